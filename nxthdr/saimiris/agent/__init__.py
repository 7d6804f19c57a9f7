"""saimiris agent: probes from Kafka sent on raw sockets, replies captured and produced to Kafka.

Files, one purpose each: `config` (settings to typed instances), `netinfo`
(interface addresses), `instances` (which instance and source address a
message uses), `ratelimit` (the pacing arithmetic), `sender` (raw sockets, one
thread per instance), `capture` (AF_PACKET with kernel timestamps),
`replies` (Reply records to the Kafka sink), `consumer` (Kafka messages to
send jobs, ordered commits), `gateway_client` (registration, health, progress)
and `app` (wiring).
"""
