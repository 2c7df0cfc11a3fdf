"""hazmon hazmon."""
