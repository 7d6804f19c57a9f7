"""pesto: the sFlow v5 collector (UDP listener, decoding workers, Kafka and file sinks)."""
