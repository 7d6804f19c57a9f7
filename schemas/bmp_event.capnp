@0xdb4b01fafa920336;
# Router and peer events of the BMP collector (risotto), topic `risotto-events`
# (off by default). One message per Initiation, Termination, Peer Up, Peer Down
# and Stats Report, plus `session_closed` when a router's TCP session ends.
# Lets a database rebuild which peers are up without replaying every update.

struct BmpEvent {
  timeReceivedNs @0 :UInt64;
  timeBmpHeaderNs @1 :UInt64;         # per-peer header timestamp, 0 for router events
  routerAddr @2 :Data;                # 16 bytes, IPv4-mapped for IPv4
  routerPort @3 :UInt16;
  eventType @4 :Text;                 # initiation, termination, peer_up, peer_down, stats_report, session_closed
  peerType @5 :UInt8;                 # 0 global, 1 RD instance, 2 local instance, 3 Loc-RIB
  peerDistinguisher @6 :UInt64;
  peerAddr @7 :Data;
  peerAsn @8 :UInt32;
  peerBgpId @9 :UInt32;
  isPostPolicy @10 :Bool;
  isAdjRibOut @11 :Bool;
  localAddr @12 :Data;                # Peer Up: local end of the BGP session
  localPort @13 :UInt16;
  remotePort @14 :UInt16;
  localAsn @15 :UInt32;               # Peer Up: from the OPEN the router sent
  localBgpId @16 :UInt32;
  peerDownReason @17 :UInt8;          # RFC 7854 section 4.9 reason code
  notificationCode @18 :UInt8;        # BGP NOTIFICATION carried by Peer Down reasons 1 and 3
  notificationSubcode @19 :UInt8;
  sysName @20 :Text;                  # Initiation TLV 2
  sysDescr @21 :Text;                 # Initiation TLV 1
  information @22 :List(Text);        # Initiation / Termination / Peer Up string TLVs
  terminationReason @23 :UInt16;      # Termination TLV 1
  stats @24 :List(Stat);              # Stats Report counters
  addPathFamilies @25 :List(Text);    # Peer Up: AFI/SAFI with ADD-PATH receive negotiated, e.g. "ipv4-unicast"
}

struct Stat {
  statType @0 :UInt16;                # RFC 7854 section 4.8 / IANA registry
  value @1 :UInt64;                   # 32-bit counters and 64-bit gauges alike
}
