"""hazmon api."""
