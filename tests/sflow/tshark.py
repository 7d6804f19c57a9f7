"""Run tshark on sFlow datagrams and turn its JSON into plain per-sample views.

tshark (Wireshark's sFlow and packet dissectors) is the independent reference
the decoder is checked against. Its JSON (`-T json --no-duplicate-keys`) nests
samples and records under descriptive keys ("Flow sample, seq 16", "Raw packet
header", ...) and turns repeated keys into lists; the helpers below find
samples and records by the fields they carry, not by those labels.
Defragmentation is off so first fragments are dissected down to TCP/UDP.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.sflow.pcap import write_pcap

TSHARK = shutil.which("tshark")


def dissect(datagrams: list[bytes]) -> list[dict]:
    """The `sflow` layer of every datagram, in order."""
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "sflow.pcap"
        write_pcap(pcap, datagrams)
        out = subprocess.run(
            [TSHARK, "-n", "-r", str(pcap), "-d", "udp.port==6343,sflow", "-o", "ip.defragment:FALSE",
             "-o", "ipv6.defragment:FALSE", "-T", "json", "--no-duplicate-keys"],
            capture_output=True, check=True).stdout
    packets = json.loads(out)
    assert len(packets) == len(datagrams)
    return [p["_source"]["layers"]["sflow"] for p in packets]


def _children(d: dict, marker: str) -> list[dict]:
    """Dict children (lists flattened) of `d` that hold the key `marker`, in document order."""
    out = []
    for v in d.values():
        for item in (v if isinstance(v, list) else [v]):
            if isinstance(item, dict) and marker in item:
                out.append(item)
    return out


def _one(v):
    return v[0] if isinstance(v, list) else v


def _int(v) -> int:
    v = _one(v)
    return int(v, 16) if isinstance(v, str) and v.startswith("0x") else int(v)


def datagram_view(layer: dict) -> dict:
    agent = layer.get("sflow_245.agent") or layer.get("sflow_245.agent.v6")
    samples = _children(layer, "sflow_245.sampletype")
    return {
        "agent": agent,
        "sub_agent_id": _int(layer["sflow_245.sub_agent_id"]),
        "sequence": _int(layer["sflow_245.sequence_number"]),
        "uptime": _int(layer["sflow_245.sysuptime"]),
        "numsamples": _int(layer["sflow_245.numsamples"]),
        "samples": samples,
    }


def flow_sample_view(s: dict) -> dict:
    """Sample-level fields of a flow sample (format 1) or expanded flow sample (format 3)."""
    p = "sflow.flow_sample."
    if _int(s["sflow_245.sampletype"]) == 3:
        src_type, src_index = _int(s[p + "source_id_type"]), _int(s[p + "source_id_index"])
        in_if, out_if = _int(s[p + "input_interface_value"]), _int(s[p + "output_interface_value"])
    else:
        src_type, src_index = _int(s[p + "source_id_class"]), _int(s[p + "index"])
        # tshark shows the compact input interface raw (format bits included); the spec puts
        # the format in the top two bits.
        in_if = _int(s[p + "input_interface"]) & 0x3FFFFFFF
        out_if = _int(s[p + "output_interface_tree"][p + "output_interface_value"])
    return {
        "sequence": _int(s[p + "sequence_number"]), "source_type": src_type, "source_index": src_index,
        "sampling_rate": _int(s[p + "sampling_rate"]), "sample_pool": _int(s[p + "sample_pool"]),
        "drops": _int(s[p + "dropped_packets"]), "input_if": in_if, "output_if": out_if,
    }


def records(s: dict) -> list[dict]:
    return _children(s, "sflow_245.flow_record_format")


def header_packet_view(rec: dict) -> dict | None:
    """What tshark found in a sampled header: None when it holds no IPv4/IPv6 header."""
    tree = rec.get("sflow_245.header_tree")
    if not isinstance(tree, dict):
        return None
    view: dict = {}
    vlans = []
    for key in ("ieee8021ad", "vlan"):
        for tag in tree.get(key, []) if isinstance(tree.get(key), list) else [tree.get(key)]:
            if isinstance(tag, dict):
                vlans.append(_int(tag.get("ieee8021ad.id", tag.get("vlan.id"))))
    view["vlan"] = vlans[0] if vlans else 0
    view["inner_vlan"] = vlans[1] if len(vlans) > 1 else 0
    if "ip" in tree:
        ip = _one(tree["ip"])
        if "ip.src" not in ip:
            return None
        view.update(ip_version=4, src=ip["ip.src"], dst=ip["ip.dst"], protocol=_int(ip["ip.proto"]),
                    length=_int(ip["ip.len"]), tos=_int(ip["ip.dsfield"]), ttl=_int(ip["ip.ttl"]),
                    fragment_offset=_int(ip["ip.frag_offset"]))
    elif "ipv6" in tree:
        ip = _one(tree["ipv6"])
        if "ipv6.src" not in ip:
            return None
        # The upper-layer protocol is the next-header field of the last extension header.
        nxt = [_int(ip["ipv6.nxt"])]
        frag = 0
        for key, v in ip.items():
            for ext in (v if isinstance(v, list) else [v]):
                if isinstance(ext, dict):
                    for k2, v2 in ext.items():
                        if k2.endswith(".nxt"):
                            nxt.append(_int(v2))
                        if k2 == "ipv6.fraghdr.offset":
                            frag = _int(v2)
        view.update(ip_version=6, src=ip["ipv6.src"], dst=ip["ipv6.dst"], protocol=nxt[-1],
                    length=40 + _int(ip["ipv6.plen"]), tos=_int(ip["ipv6.tclass"]), ttl=_int(ip["ipv6.hlim"]),
                    fragment_offset=frag)
    else:
        return None
    view.update(src_port=0, dst_port=0, tcp_flags=0, icmp_type=0, icmp_code=0)
    if "tcp" in tree and "tcp.srcport" in _one(tree["tcp"]):
        tcp = _one(tree["tcp"])
        view.update(src_port=_int(tcp["tcp.srcport"]), dst_port=_int(tcp["tcp.dstport"]))
        if "tcp.flags" in tcp:
            view["tcp_flags"] = _int(tcp["tcp.flags"]) & 0x1FF
    elif "udp" in tree and "udp.srcport" in _one(tree["udp"]):
        udp = _one(tree["udp"])
        view.update(src_port=_int(udp["udp.srcport"]), dst_port=_int(udp["udp.dstport"]))
    for key in ("icmp", "icmpv6"):
        if key in tree and f"{key}.type" in _one(tree[key]):
            view.update(icmp_type=_int(_one(tree[key])[f"{key}.type"]), icmp_code=_int(_one(tree[key])[f"{key}.code"]))
    return view


def gateway_path(rec: dict) -> list[int]:
    """AS path of an extended gateway record (tshark labels community values dstAS too: skip them)."""
    path: list[int] = []
    trees = rec.get("sflow.as_type_tree", [])
    for t in trees if isinstance(trees, list) else [trees]:
        v = t["sflow_245.dstAS"]
        path.extend(int(x) for x in (v if isinstance(v, list) else [v]))
    return path
