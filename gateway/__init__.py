"""hazmon gateway."""
