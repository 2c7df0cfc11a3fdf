"""hazmon ingest."""
