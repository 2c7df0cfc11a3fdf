"""hazmon stores."""
