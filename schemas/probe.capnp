@0xe4af8a0924a7def3;
# A probe to send, topic `saimiris-probes`. Contract with existing producers and
# agents: never renumber or retype.

struct Probe {
  dstAddr @0 :Data;                   # 16 bytes, IPv4-mapped for IPv4
  srcPort @1 :UInt16;
  dstPort @2 :UInt16;
  ttl @3 :UInt8;
  protocol @4 :Protocol;

  enum Protocol {
    tcp @0;
    udp @1;
    icmp @2;
    icmpv6 @3;
  }
}
