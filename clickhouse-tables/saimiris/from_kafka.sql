-- saimiris.from_kafka: reads the agents' Reply messages (schemas/reply.capnp) from Kafka.
-- Stores nothing; from_kafka_mv moves every row into saimiris.replies.
-- Column names are the Cap'n Proto field names; Mpls.sBit (Bool) is read as UInt8.
-- The embedded store creates a Null-engine table with these same columns instead.
CREATE TABLE IF NOT EXISTS {{ database }}.from_kafka
(
    timeReceivedNs UInt64,
    agentId String,
    replySrcAddr IPv6,
    replyDstAddr IPv6,
    replyId UInt16,
    replySize UInt16,
    replyTtl UInt8,
    replyQuotedTtl UInt8,
    replyProtocol UInt8,
    replyIcmpType UInt8,
    replyIcmpCode UInt8,
    replyMplsLabel Array(Tuple(UInt32, UInt8, UInt8, UInt8)),
    probeSrcAddr IPv6,
    probeDstAddr IPv6,
    probeId UInt16,
    probeSize UInt16,
    probeTtl UInt8,
    probeProtocol UInt8,
    probeSrcPort UInt16,
    probeDstPort UInt16,
    rtt UInt16
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = {{ kafka_brokers }},
    kafka_topic_list = {{ topic }},
    kafka_group_name = {{ consumer_group }},
    kafka_format = 'CapnProto',
    kafka_schema = {{ format_schema }},
    kafka_num_consumers = {{ num_consumers }},
    kafka_max_rows_per_message = 1048576{{ kafka_extra_settings }}
