"""The MQTT bus as hazmon's services use it: connection options and connect
(`mqtt`), and paho speed-ups for the consumers (`paho_patches`).
"""
