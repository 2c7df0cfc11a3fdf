"""hazmon dashboards."""
