"""hazmon simulators."""
