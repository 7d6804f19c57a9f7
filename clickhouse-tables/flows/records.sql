-- flows.records: one row per sFlow flow sample carrying IP data, as seen by pesto.
-- `bytes` and `packets` are ESTIMATES of the traffic the sample stands for
-- (packet length x sampling rate, sampling rate); `packet_length` and
-- `sampling_rate` are kept so per-sample readings stay possible.
CREATE TABLE IF NOT EXISTS {{ database }}.records
(
    date Date,
    time_inserted_ns DateTime64(9),
    time_received_ns DateTime64(9),
    sequence_num UInt32,
    sampling_rate UInt64,
    sampler_address IPv6,
    sampler_port UInt16,
    src_addr IPv6,
    dst_addr IPv6,
    src_port UInt32,
    dst_port UInt32,
    protocol UInt32,
    etype UInt32,
    packet_length UInt32,
    bytes UInt64,
    packets UInt64,
    agent_sub_id UInt32,
    uptime UInt32,
    sample_sequence_num UInt32,
    source_id UInt32,
    sample_pool UInt32,
    drops UInt32,
    input_interface UInt32,
    output_interface UInt32,
    tcp_flags UInt32,
    tos UInt32,
    exporter_address IPv6,
    vlan UInt16,
    inner_vlan UInt16,
    src_vlan UInt32,
    dst_vlan UInt32,
    next_hop IPv6,
    src_mask UInt8,
    dst_mask UInt8,
    src_as UInt32,
    dst_as UInt32,
    src_peer_as UInt32,
    dst_peer_as UInt32,
    icmp_type UInt8,
    icmp_code UInt8,
    ip_ttl UInt8,
    fragment_offset UInt16
)
ENGINE = MergeTree
PARTITION BY date
ORDER BY (time_received_ns, src_addr, dst_addr)
TTL date + INTERVAL {{ retention_days }} DAY DELETE
