"""The bus as hazmon's services use it.

- `seam`: what a consuming service needs of a bus, whatever carries it (`Link`,
  `Inbound`), and `open_link`, the one way a service gets its link;
- `consumer`: that link on MQTT (paho's network thread, batches per socket read,
  acknowledgements from any thread, publishing on a connection of its own);
- `mqtt`: connection options and connecting (MQTT 5, else 3.1.1), stable client ids;
- `paho_patches`: measured speed-ups of paho's internals for the consumers;
- `uplink`: a publisher's connection with a will (the gateway);
- `backoff`: the one jittered exponential backoff every retry follows.
"""
