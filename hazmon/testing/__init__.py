"""Support for testing and measuring hazmon against real servers: Mosquitto and
InfluxDB started on free loopback ports with their own temporary folders
(`hazmon.testing.servers`). The test suite and the benchmarks both use it; no part of
the product imports it (tests/architecture/test_layers.py)."""
