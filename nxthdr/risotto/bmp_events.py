"""Router and peer events as `BmpEvent` messages (schemas/bmp_event.capnp).

Rare compared with prefixes, so the generic Cap'n Proto writer is fast enough.
"""

from __future__ import annotations

from nxthdr.bgp.types import AFI_IPV4, AFI_IPV6, SAFI_MULTICAST, SAFI_UNICAST
from nxthdr.bmp import events as ev
from nxthdr.core.capnp_codec import encode_message, struct_layout

LAYOUT = struct_layout("bmp_event.capnp", "BmpEvent")

_FAMILY_NAMES = {(AFI_IPV4, SAFI_UNICAST): "ipv4-unicast", (AFI_IPV6, SAFI_UNICAST): "ipv6-unicast",
                 (AFI_IPV4, SAFI_MULTICAST): "ipv4-multicast", (AFI_IPV6, SAFI_MULTICAST): "ipv6-multicast"}


def _peer_fields(ph: ev.PeerHeader) -> dict:
    return {"timeBmpHeaderNs": ph.timestamp_ns, "peerType": ph.peer_type, "peerDistinguisher": ph.distinguisher,
            "peerAddr": ph.address, "peerAsn": ph.asn, "peerBgpId": ph.bgp_id, "isPostPolicy": ph.is_post_policy,
            "isAdjRibOut": ph.is_adj_rib_out}


def encode(kind: str, router16: bytes, router_port: int, event, time_received_ns: int) -> bytes:
    v: dict = {"timeReceivedNs": time_received_ns, "routerAddr": router16, "routerPort": router_port,
               "eventType": kind, "peerAddr": b"\0" * 16, "localAddr": b"\0" * 16}
    if isinstance(event, ev.PeerUp):
        v.update(_peer_fields(event.peer))
        caps_sent = event.sent_open.capabilities.add_path
        caps_recv = event.received_open.capabilities.add_path
        families = sorted(f for f in set(caps_sent) & set(caps_recv)
                          if caps_sent[f] & 1 and caps_recv[f] & 2)
        v.update(localAddr=event.local_address, localPort=event.local_port, remotePort=event.remote_port,
                 localAsn=event.sent_open.effective_asn, localBgpId=event.sent_open.bgp_id,
                 information=[t.text for t in event.tlvs if t.type == 0],
                 addPathFamilies=[_FAMILY_NAMES.get(f, f"{f[0]}-{f[1]}") for f in families])
    elif isinstance(event, ev.PeerDown):
        v.update(_peer_fields(event.peer))
        v["peerDownReason"] = event.reason
        if event.notification is not None:
            v.update(notificationCode=event.notification.code, notificationSubcode=event.notification.subcode)
    elif isinstance(event, ev.StatsReport):
        v.update(_peer_fields(event.peer))
        v["stats"] = [{"statType": s.type, "value": s.value & 0xFFFFFFFFFFFFFFFF} for s in event.stats]
    elif isinstance(event, ev.Initiation):
        v.update(sysName=event.sys_name, sysDescr=event.sys_descr,
                 information=[t.text for t in event.tlvs if t.type == 0])
    elif isinstance(event, ev.Termination):
        v.update(terminationReason=event.reason or 0, information=[t.text for t in event.tlvs if t.type == 0])
    return encode_message(LAYOUT, v)
