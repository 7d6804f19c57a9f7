-- TEMPORARY FIXTURE: the storage tables as clickhouse.md lists them, for checking
-- the dashboards' SQL until the storage branch's clickhouse-tables/ SQL is in
-- this tree. storage.py uses clickhouse-tables/<db>/<table>.sql instead as soon
-- as those files exist; then this file must be deleted.
CREATE TABLE bmp.updates
(
    date Date, time_inserted_ns DateTime64(9), time_received_ns DateTime64(9), time_bmp_header_ns DateTime64(9),
    router_addr IPv6, router_port UInt16, peer_addr IPv6, peer_bgp_id IPv4, peer_asn UInt32,
    prefix_addr IPv6, prefix_len UInt8, is_post_policy Bool, is_adj_rib_out Bool, announced Bool, synthetic Bool,
    origin String, as_path Array(UInt32), next_hop IPv6, multi_exit_disc UInt32, local_preference UInt32,
    only_to_customer UInt32, atomic_aggregate Bool, aggregator_asn UInt32, aggregator_bgp_id IPv4,
    communities Array(Tuple(UInt32, UInt16)), extended_communities Array(Tuple(UInt8, UInt8, String)),
    large_communities Array(Tuple(UInt32, UInt32, UInt32)), originator_id IPv4, cluster_list Array(UInt32),
    mp_reach_afi UInt16, mp_reach_safi UInt8, mp_unreach_afi UInt16, mp_unreach_safi UInt8
)
ENGINE = MergeTree PARTITION BY date ORDER BY (time_received_ns, router_addr, peer_addr, prefix_addr, prefix_len);

CREATE TABLE flows.records
(
    date Date, time_inserted_ns DateTime64(9), time_received_ns DateTime64(9),
    sequence_num UInt32, sampling_rate UInt64, sampler_address IPv6, sampler_port UInt16,
    src_addr IPv6, dst_addr IPv6, src_port UInt16, dst_port UInt16, protocol UInt8, etype UInt16,
    packet_length UInt32, bytes UInt64, packets UInt64
)
ENGINE = MergeTree PARTITION BY date ORDER BY (time_received_ns, src_addr, dst_addr);

CREATE TABLE saimiris.replies
(
    date Date, time_inserted_ns DateTime64(9), time_received_ns DateTime64(9),
    agent_id String, reply_src_addr IPv6, reply_dst_addr IPv6, reply_id UInt16, reply_size UInt16,
    reply_ttl UInt8, reply_quoted_ttl UInt8, reply_protocol UInt8, reply_icmp_type UInt8, reply_icmp_code UInt8,
    reply_mpls_labels Array(Tuple(UInt32, UInt8, UInt8, UInt8)),
    probe_src_addr IPv6, probe_dst_addr IPv6, probe_id UInt16, probe_size UInt16, probe_ttl UInt8,
    probe_protocol UInt8, probe_src_port UInt16, probe_dst_port UInt16, rtt UInt16
)
ENGINE = MergeTree PARTITION BY date
ORDER BY (time_received_ns, agent_id, probe_protocol, probe_src_addr, probe_dst_addr, probe_src_port, probe_dst_port,
          probe_ttl);
