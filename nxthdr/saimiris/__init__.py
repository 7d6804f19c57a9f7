"""saimiris: the active-probing agent (stateless, caracal-compatible traceroute probes).

The modules here are sans-I/O: `probe` turns probe specifications into IP
packets, `reply` turns captured IP packets into `Reply` records. Sockets,
capture and Kafka live elsewhere and only move bytes.
"""
