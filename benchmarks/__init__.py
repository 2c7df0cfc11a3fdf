"""The benchmarks: scripts run from a checkout (`.venv/bin/python benchmarks/<name>.py`,
`hazmon bench`), and the tests of their own parts (benchmarks/tests). What they share
with the test suite is in hazmon.testing; they import nothing of the tests."""
