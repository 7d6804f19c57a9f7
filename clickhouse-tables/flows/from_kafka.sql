-- flows.from_kafka: reads pesto's SFlowFlowRecord messages (schemas/sflow.capnp) from Kafka.
-- Stores nothing; from_kafka_mv moves every row into flows.records.
-- Column names are the Cap'n Proto field names; addresses stay FixedString(16)
-- here as in the reference deployment and become IPv6 in the view.
-- The embedded store creates a Null-engine table with these same columns instead.
CREATE TABLE IF NOT EXISTS {{ database }}.from_kafka
(
    timeReceivedNs UInt64,
    agentAddr FixedString(16),
    agentPort UInt16,
    agentSubId UInt32,
    datagramSequenceNumber UInt32,
    uptime UInt32,
    sampleSequenceNumber UInt32,
    sourceId UInt32,
    samplingRate UInt32,
    samplePool UInt32,
    drops UInt32,
    inputInterface UInt32,
    outputInterface UInt32,
    length UInt32,
    protocol UInt32,
    srcIp FixedString(16),
    dstIp FixedString(16),
    srcPort UInt32,
    dstPort UInt32,
    tcpFlags UInt32,
    tos UInt32,
    exporterAddr FixedString(16),
    etype UInt16,
    vlan UInt16,
    innerVlan UInt16,
    srcVlan UInt32,
    dstVlan UInt32,
    nextHop FixedString(16),
    srcMask UInt8,
    dstMask UInt8,
    srcAs UInt32,
    dstAs UInt32,
    srcPeerAs UInt32,
    dstPeerAs UInt32,
    icmpType UInt8,
    icmpCode UInt8,
    ipTtl UInt8,
    fragmentOffset UInt16
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
