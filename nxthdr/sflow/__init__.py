"""sFlow v5 collector (pesto): sans-I/O decoder and Cap'n Proto record encoder."""

from nxthdr.sflow.decoder import Datagram, FlowSample, SFlowError, decode_datagram
from nxthdr.sflow.packet import Packet
from nxthdr.sflow.records import SFlowRecordEncoder, encode_datagram

__all__ = ["Datagram", "FlowSample", "Packet", "SFlowError", "SFlowRecordEncoder", "decode_datagram",
           "encode_datagram"]
