@0xb8c3d4e5f6a7b8c9;
# sFlow collector output (pesto), one message per flow sample carrying IP data,
# topic `pesto-sflow`. Flat on purpose: ClickHouse's CapnProto reader has no
# unions. Ordinals 0..20 are a contract with existing consumers; fields after
# them were appended by this project and must keep their ordinals too.

struct SFlowFlowRecord {
  timeReceivedNs @0 :UInt64;          # collector wall clock, ns since the Unix epoch
  agentAddr @1 :Data;                 # agent address inside the datagram, 16 bytes
  agentPort @2 :UInt16;               # UDP source port of the datagram
  agentSubId @3 :UInt32;
  datagramSequenceNumber @4 :UInt32;
  uptime @5 :UInt32;                  # agent uptime, ms
  sampleSequenceNumber @6 :UInt32;
  sourceId @7 :UInt32;                # source index, format bits stripped
  samplingRate @8 :UInt32;
  samplePool @9 :UInt32;
  drops @10 :UInt32;
  inputInterface @11 :UInt32;         # ifIndex, format bits stripped
  outputInterface @12 :UInt32;
  length @13 :UInt32;                 # IP length of the sampled packet
  protocol @14 :UInt32;               # transport protocol after IPv6 extension headers
  srcIp @15 :Data;                    # 16 bytes, IPv4-mapped for IPv4
  dstIp @16 :Data;
  srcPort @17 :UInt32;                # 0 for ICMP / ICMPv6
  dstPort @18 :UInt32;
  tcpFlags @19 :UInt32;               # standard flag bits: FIN 0x01 .. CWR 0x80, NS 0x100
  tos @20 :UInt32;                    # full IPv4 ToS / IPv6 traffic-class byte

  # Appended by this project.
  exporterAddr @21 :Data;             # UDP source address of the datagram, 16 bytes
  etype @22 :UInt16;                  # EtherType of the IP packet (0x0800 / 0x86dd)
  vlan @23 :UInt16;                   # outer 802.1Q VLAN id from the sampled header, 0 if untagged
  innerVlan @24 :UInt16;              # inner (QinQ) VLAN id, 0 if none
  srcVlan @25 :UInt32;                # extended switch data (1001)
  dstVlan @26 :UInt32;
  nextHop @27 :Data;                  # extended router (1002) or gateway (1003) next hop, 16 bytes
  srcMask @28 :UInt8;                 # extended router source / destination prefix lengths
  dstMask @29 :UInt8;
  srcAs @30 :UInt32;                  # extended gateway (1003)
  dstAs @31 :UInt32;                  # last AS of the destination AS path
  srcPeerAs @32 :UInt32;
  dstPeerAs @33 :UInt32;              # first AS of the destination AS path
  icmpType @34 :UInt8;
  icmpCode @35 :UInt8;
  ipTtl @36 :UInt8;                   # IPv4 TTL / IPv6 hop limit
  fragmentOffset @37 :UInt16;
}
