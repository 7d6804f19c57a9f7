-- bmp.updates: one row per prefix announced or withdrawn, as seen by risotto.
-- Partitioned by day; whole days expire after the configured retention.
CREATE TABLE IF NOT EXISTS {{ database }}.updates
(
    date Date,
    time_inserted_ns DateTime64(9),
    time_received_ns DateTime64(9),
    time_bmp_header_ns DateTime64(9),
    router_addr IPv6,
    router_port UInt16,
    peer_addr IPv6,
    peer_bgp_id IPv4,
    peer_asn UInt32,
    prefix_addr IPv6,
    prefix_len UInt8,
    is_post_policy Bool,
    is_adj_rib_out Bool,
    announced Bool,
    synthetic Bool,
    origin String,
    as_path Array(UInt32),
    next_hop IPv6,
    multi_exit_disc UInt32,
    local_preference UInt32,
    only_to_customer UInt32,
    atomic_aggregate Bool,
    aggregator_asn UInt32,
    aggregator_bgp_id IPv4,
    communities Array(Tuple(UInt32, UInt16)),
    extended_communities Array(Tuple(UInt8, UInt8, String)),
    large_communities Array(Tuple(UInt32, UInt32, UInt32)),
    originator_id IPv4,
    cluster_list Array(UInt32),
    mp_reach_afi UInt16,
    mp_reach_safi UInt8,
    mp_unreach_afi UInt16,
    mp_unreach_safi UInt8,
    path_id UInt32,
    peer_distinguisher UInt64,
    peer_type UInt8,
    next_hop_link_local IPv6,
    is_loc_rib Bool
)
ENGINE = MergeTree
PARTITION BY date
ORDER BY (time_received_ns, router_addr, peer_addr, prefix_addr, prefix_len)
TTL date + INTERVAL {{ retention_days }} DAY DELETE
