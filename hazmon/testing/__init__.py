"""Support for testing and measuring hazmon against real servers, for the test suite and
the benchmarks alike; no part of the product imports it (tests/architecture/test_layers.py).

- `servers`: Mosquitto and InfluxDB started on free loopback ports with their own
  temporary folders;
- `brokers`: Mosquitto running exactly what `hazmon broker-config` writes;
- `mqtt_clients`: the MQTT client that keeps the broker's answers and every message;
- `mqtt_packets`: MQTT 3.1.1 packets built by hand, for a publisher without a client;
- `processes`: child processes (`hazmon ...`) with a log file, a bounded wait until
  ready and a bounded stop;
- `fixtures`: the pytest fixtures of those servers, and the test tiers.
"""
