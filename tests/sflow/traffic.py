"""The traffic sent through the sfprobe lab, and what each piece must look like once sampled.

Two kinds: real kernel traffic between the namespaces (ping, TCP connections,
UDP) and frames crafted here and injected with AF_PACKET for what the kernel
will not produce on demand (chosen TCP flags, 802.1Q / QinQ tags, IPv4
options, IPv6 extension header chains, fragments, non-IP). Each item returns
an expectation: the fields a decoded sample of that packet must have. The live
test checks them; the recording script stores them in the fixture manifest.
"""

from __future__ import annotations

import socket
import time

from tests.sflow import frames as F
from tests.sflow.agent import SINK4, SINK6, SRC4, SRC6, SfprobeLab, ns_socket

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR, TCP_NS = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x100)


def _expect(name: str, **fields) -> dict:
    return {"name": name, **fields}


def _tcp_session(lab: SfprobeLab, family: int, server: str, client: str, port: int) -> dict:
    lsock = ns_socket(lab.sink, family, socket.SOCK_STREAM)
    csock = ns_socket(lab.src, family, socket.SOCK_STREAM)
    try:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((server, port))
        lsock.listen(1)
        csock.connect((server, port))
        conn, _ = lsock.accept()
        sport = csock.getsockname()[1]
        csock.sendall(b"hello sflow")
        conn.recv(100)
        csock.close()
        conn.close()
        time.sleep(0.1)
    finally:
        lsock.close()
        csock.close()
    v = 4 if family == socket.AF_INET else 6
    # The client's SYN and the server's SYN-ACK must both be sampled.
    return _expect(f"tcp{v} session", src=client, dst=server, protocol=6, src_port=sport, dst_port=port,
                   tcp_flags=TCP_SYN, also=[dict(src=server, dst=client, protocol=6, src_port=port, dst_port=sport,
                                                 tcp_flags=TCP_SYN | TCP_ACK)])


def _udp(lab: SfprobeLab, family: int, server: str, port: int, size: int) -> int:
    rsock = ns_socket(lab.sink, family, socket.SOCK_DGRAM)
    ssock = ns_socket(lab.src, family, socket.SOCK_DGRAM)
    try:
        rsock.bind((server, port))
        ssock.sendto(b"u" * size, (server, port))
        rsock.settimeout(2)
        rsock.recv(65535)
        return ssock.getsockname()[1]
    finally:
        rsock.close()
        ssock.close()


def generate(lab: SfprobeLab) -> list[dict]:
    """Send every piece of traffic once; returns the expectations."""
    exp: list[dict] = []
    dmac, smac = lab.sink_mac, lab.src_mac

    # -- real kernel traffic
    lab.src.run("ping", "-c1", "-W2", "-Q", "0xb8", SINK4)
    exp.append(_expect("icmp echo", src=SRC4, dst=SINK4, protocol=1, icmp_type=8, icmp_code=0, tos=0xB8,
                       also=[dict(src=SINK4, dst=SRC4, protocol=1, icmp_type=0)]))
    lab.src.run("ping", "-6", "-c1", "-W2", SINK6)
    exp.append(_expect("icmpv6 echo", src=SRC6, dst=SINK6, protocol=58, icmp_type=128, icmp_code=0,
                       also=[dict(src=SINK6, dst=SRC6, protocol=58, icmp_type=129)]))
    exp.append(_tcp_session(lab, socket.AF_INET, SINK4, SRC4, 8080))
    exp.append(_tcp_session(lab, socket.AF_INET6, SINK6, SRC6, 8086))
    s = ns_socket(lab.src, socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.connect_ex((SINK4, 9))  # nothing listens: the sink answers RST-ACK
        sport = s.getsockname()[1]
    finally:
        s.close()
    exp.append(_expect("tcp rst", src=SINK4, dst=SRC4, protocol=6, src_port=9, dst_port=sport,
                       tcp_flags=TCP_RST | TCP_ACK))
    sport = _udp(lab, socket.AF_INET, SINK4, 5353, 32)
    exp.append(_expect("udp4", src=SRC4, dst=SINK4, protocol=17, src_port=sport, dst_port=5353, length=20 + 8 + 32))
    sport = _udp(lab, socket.AF_INET6, SINK6, 5354, 32)
    exp.append(_expect("udp6", src=SRC6, dst=SINK6, protocol=17, src_port=sport, dst_port=5354, length=40 + 8 + 32))
    sport = _udp(lab, socket.AF_INET, SINK4, 5355, 1400)
    # Far longer than the capture: the length must come from the IP header.
    exp.append(_expect("udp4 large (truncated header)", src=SRC4, dst=SINK4, protocol=17, src_port=sport,
                       dst_port=5355, length=20 + 8 + 1400))

    # -- crafted frames
    crafted: list[bytes] = []

    def eth(ethertype: int, payload: bytes, vlans=()) -> bytes:
        return F.ethernet(dmac, smac, ethertype, payload, vlans)

    flags = TCP_SYN | TCP_ECE | TCP_CWR | TCP_NS
    crafted.append(eth(F.ETH_IPV4, F.ipv4(SRC4, SINK4, 6, F.tcp(SRC4, SINK4, 40001, 7001, flags), tos=0x2A)))
    exp.append(_expect("tcp4 SYN+ECE+CWR+NS", src=SRC4, dst=SINK4, protocol=6, src_port=40001, dst_port=7001,
                       tcp_flags=flags, tos=0x2A))
    flags = TCP_FIN | TCP_PSH | TCP_URG | TCP_ACK
    crafted.append(eth(F.ETH_IPV6, F.ipv6(SRC6, SINK6, 6, F.tcp(SRC6, SINK6, 40002, 7002, flags, b"data"),
                                          tclass=0xB9)))
    exp.append(_expect("tcp6 FIN+PSH+URG+ACK", src=SRC6, dst=SINK6, protocol=6, src_port=40002, dst_port=7002,
                       tcp_flags=flags, tos=0xB9))
    crafted.append(eth(F.ETH_IPV4, F.ipv4(SRC4, SINK4, 17, F.udp(SRC4, SINK4, 40003, 7003, b"vlan")),
                       vlans=((F.ETH_8021Q, 100),)))
    exp.append(_expect("802.1Q udp4", src=SRC4, dst=SINK4, protocol=17, src_port=40003, dst_port=7003, vlan=100,
                       inner_vlan=0))
    # Double 0x8100 tags: pmacctd 1.7.7 does not sample frames whose outer tag is 0x88a8 or 0x9100
    # (those are covered by hand-built datagrams).
    crafted.append(eth(F.ETH_IPV6, F.ipv6(SRC6, SINK6, 6, F.tcp(SRC6, SINK6, 40004, 7004, TCP_SYN)),
                       vlans=((F.ETH_8021Q, 200), (F.ETH_8021Q, 300))))
    exp.append(_expect("QinQ (double 802.1Q) tcp6", src=SRC6, dst=SINK6, protocol=6, src_port=40004, dst_port=7004, vlan=200,
                       inner_vlan=300, tcp_flags=TCP_SYN))
    # NOP, NOP, NOP, End of options list: 4 bytes of options, IHL 6.
    crafted.append(eth(F.ETH_IPV4, F.ipv4(SRC4, SINK4, 17, F.udp(SRC4, SINK4, 40005, 7005, b"opts"),
                                          options=b"\x01\x01\x01\x00")))
    exp.append(_expect("ipv4 options udp", src=SRC4, dst=SINK4, protocol=17, src_port=40005, dst_port=7005,
                       length=24 + 8 + 4))
    tcp = F.tcp(SRC6, SINK6, 40006, 7006, TCP_SYN)
    chain = F.ipv6_ext(44, b"\x05\x02\x00\x00") + F.ipv6_fragment(6, 0, more=True) + tcp
    crafted.append(eth(F.ETH_IPV6, F.ipv6(SRC6, SINK6, 0, chain)))
    exp.append(_expect("ipv6 hop-by-hop + fragment tcp", src=SRC6, dst=SINK6, protocol=6, src_port=40006,
                       dst_port=7006, tcp_flags=TCP_SYN))
    udp = F.udp(SRC6, SINK6, 40007, 7007, b"dst-opts")
    crafted.append(eth(F.ETH_IPV6, F.ipv6(SRC6, SINK6, 60, F.ipv6_ext(17, b"\x01\x04\0\0\0\0") + udp)))
    exp.append(_expect("ipv6 destination options udp", src=SRC6, dst=SINK6, protocol=17, src_port=40007,
                       dst_port=7007))
    # 14 + 40 + 64 + 8 = 126 bytes before TCP: a 128-byte capture ends inside the TCP ports.
    tcp = F.tcp(SRC6, SINK6, 40008, 7008, TCP_SYN)
    chain = F.ipv6_ext(60, b"\x01\x3c" + b"\0" * 60) + F.ipv6_ext(6, b"\x01\x04\0\0\0\0") + tcp
    crafted.append(eth(F.ETH_IPV6, F.ipv6(SRC6, SINK6, 0, chain)))
    exp.append(_expect("ipv6 long extension chain, tcp cut by the capture", src=SRC6, dst=SINK6, protocol=6,
                       src_port=0, dst_port=0, length=40 + len(chain), truncated=True))
    crafted.append(eth(F.ETH_IPV4, F.ipv4(SRC4, SINK4, 17, b"\0" * 16, frag=185, ident=77)))
    exp.append(_expect("ipv4 non-first fragment", src=SRC4, dst=SINK4, protocol=17, src_port=0, dst_port=0,
                       fragment_offset=185))
    crafted.append(eth(F.ETH_IPV4, F.ipv4(SRC4, SINK4, 1, F.icmp(13, 0, b"\0" * 16), ttl=3)))
    exp.append(_expect("icmp timestamp ttl 3", src=SRC4, dst=SINK4, protocol=1, icmp_type=13, ttl=3))
    # ARP request: non-IP. pmacctd does not even sample it; were it sampled, it would give no record.
    arp = (bytes.fromhex("0001080006040001") + smac + bytes(map(int, SRC4.split(".")))
           + b"\0" * 6 + bytes(map(int, SINK4.split("."))))
    crafted.append(F.ethernet(b"\xff" * 6, smac, 0x0806, arp))
    lab.inject(crafted)
    return exp


def matches(packet, expectation: dict, ip_to_bytes) -> bool:
    """True when a decoded `Packet` has every field of `expectation` (addresses given as text)."""
    for key, want in expectation.items():
        if key in ("name", "also"):
            continue
        if key in ("src", "dst"):
            if getattr(packet, key + "_ip") != ip_to_bytes(want):
                return False
        elif getattr(packet, key) != want:
            return False
    return True
