"""hazmon alarms."""
