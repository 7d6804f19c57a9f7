-- saimiris.replies: one row per reply captured by a probing agent.
-- `rtt` is in tenths of a millisecond, as on the wire.
CREATE TABLE IF NOT EXISTS {{ database }}.replies
(
    date Date,
    time_inserted_ns DateTime64(9),
    time_received_ns DateTime64(9),
    agent_id String,
    reply_src_addr IPv6,
    reply_dst_addr IPv6,
    reply_id UInt16,
    reply_size UInt16,
    reply_ttl UInt8,
    reply_quoted_ttl UInt8,
    reply_protocol UInt8,
    reply_icmp_type UInt8,
    reply_icmp_code UInt8,
    reply_mpls_labels Array(Tuple(UInt32, UInt8, UInt8, UInt8)),
    probe_src_addr IPv6,
    probe_dst_addr IPv6,
    probe_id UInt16,
    probe_size UInt16,
    probe_ttl UInt8,
    probe_protocol UInt8,
    probe_src_port UInt16,
    probe_dst_port UInt16,
    rtt UInt16
)
ENGINE = MergeTree
PARTITION BY date
ORDER BY (time_received_ns, agent_id, probe_protocol, probe_src_addr, probe_dst_addr, probe_src_port, probe_dst_port, probe_ttl)
TTL date + INTERVAL {{ retention_days }} DAY DELETE
