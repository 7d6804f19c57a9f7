-- saimiris.from_kafka_mv: camelCase Cap'n Proto fields to snake_case storage
-- columns, nanosecond counters to DateTime64(9).
CREATE MATERIALIZED VIEW IF NOT EXISTS {{ database }}.from_kafka_mv TO {{ database }}.replies
AS SELECT
    toDate(fromUnixTimestamp64Nano(toInt64(timeReceivedNs)), 'UTC') AS date,
    now64(9) AS time_inserted_ns,
    fromUnixTimestamp64Nano(toInt64(timeReceivedNs)) AS time_received_ns,
    agentId AS agent_id,
    replySrcAddr AS reply_src_addr,
    replyDstAddr AS reply_dst_addr,
    replyId AS reply_id,
    replySize AS reply_size,
    replyTtl AS reply_ttl,
    replyQuotedTtl AS reply_quoted_ttl,
    replyProtocol AS reply_protocol,
    replyIcmpType AS reply_icmp_type,
    replyIcmpCode AS reply_icmp_code,
    replyMplsLabel AS reply_mpls_labels,
    probeSrcAddr AS probe_src_addr,
    probeDstAddr AS probe_dst_addr,
    probeId AS probe_id,
    probeSize AS probe_size,
    probeTtl AS probe_ttl,
    probeProtocol AS probe_protocol,
    probeSrcPort AS probe_src_port,
    probeDstPort AS probe_dst_port,
    rtt
FROM {{ database }}.{{ input_table }}
