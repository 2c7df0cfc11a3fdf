"""The end-to-end benchmark: hazmon (ingest + alarms) against a Node-RED flow.

`benchmarks/e2e_bench.py` is the command; docs/benchmarks.md is the report. The parts:

- `plant`: the registry of the benchmark plant (N gateways x M gas detectors);
- `servers`: processes the benchmark starts (Mosquitto, InfluxDB, Node-RED, hazmon),
  with CPU and peak memory sampled per process;
- `nodered`: installs Node-RED into a cache folder and runs `benchmarks/nodered/flow.json`;
- `load`: the publishers (paced or flat out), which also stamp threshold crossings;
- `latency`: matches alarm events on MQTT to the crossings that raised them;
- `jetstream`: the JetStream profile (a nats-server, ingest and N alarm workers on it)
  and the stream's backlog;
- `runner`: the cases and phases; `report`: the table.
"""
