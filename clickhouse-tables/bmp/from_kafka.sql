-- bmp.from_kafka: reads risotto's Update messages (schemas/update.capnp) from Kafka.
-- Stores nothing; from_kafka_mv moves every row into bmp.updates.
-- Column names are the Cap'n Proto field names (ClickHouse maps them by name);
-- Cap'n Proto Bool is read as UInt8 (the documented CapnProto mapping).
-- The embedded store creates a Null-engine table with these same columns instead.
CREATE TABLE IF NOT EXISTS {{ database }}.from_kafka
(
    timeReceivedNs UInt64,
    timeBmpHeaderNs UInt64,
    routerAddr IPv6,
    routerPort UInt16,
    peerAddr IPv6,
    peerBgpId IPv4,
    peerAsn UInt32,
    prefixAddr IPv6,
    prefixLen UInt8,
    isPostPolicy UInt8,
    isAdjRibOut UInt8,
    announced UInt8,
    synthetic UInt8,
    origin String,
    asPath Array(UInt32),
    nextHop IPv6,
    multiExitDisc UInt32,
    localPreference UInt32,
    onlyToCustomer UInt32,
    atomicAggregate UInt8,
    aggregatorAsn UInt32,
    aggregatorBgpId IPv4,
    communities Array(Tuple(UInt32, UInt16)),
    extendedCommunities Array(Tuple(UInt8, UInt8, String)),
    largeCommunities Array(Tuple(UInt32, UInt32, UInt32)),
    originatorId IPv4,
    clusterList Array(UInt32),
    mpReachAfi UInt16,
    mpReachSafi UInt8,
    mpUnreachAfi UInt16,
    mpUnreachSafi UInt8,
    pathId UInt32,
    peerDistinguisher UInt64,
    peerType UInt8,
    nextHopLinkLocal IPv6,
    isLocRib UInt8
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
