"""The hand-packed Update writer against pycapnp, the reference reader, on random attributes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nxthdr.bgp.types import ExtendedCommunity, PathAttributes
from nxthdr.core.capnp_codec import load_schema
from nxthdr.risotto.update_writer import ADJ_RIB_OUT, ANNOUNCED, LOC_RIB, POST_POLICY, SYNTHETIC, UpdateWriter, encode_row

u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 2**16 - 1)
addr16 = st.binary(min_size=16, max_size=16)
attributes = st.builds(
    PathAttributes,
    origin=st.sampled_from(["", "IGP", "EGP", "INCOMPLETE"]),
    as_path=st.lists(u32, max_size=12).map(tuple),
    med=u32, local_pref=u32, atomic_aggregate=st.booleans(), aggregator_asn=u32, aggregator_bgp_id=u32,
    communities=st.lists(st.tuples(u16, u16), max_size=6).map(tuple),
    extended_communities=st.lists(st.builds(ExtendedCommunity, st.integers(0, 255), st.integers(0, 255),
                                            st.one_of(st.binary(min_size=6, max_size=6),
                                                      st.binary(min_size=18, max_size=18))), max_size=4).map(tuple),
    large_communities=st.lists(st.tuples(u32, u32, u32), max_size=4).map(tuple),
    originator_id=u32, cluster_list=st.lists(u32, max_size=5).map(tuple), only_to_customer=u32,
)


@settings(max_examples=300, deadline=None)
@given(attrs=attributes, nh=addr16, ll=addr16, router=addr16, peer=addr16, prefix=addr16,
       plen=st.integers(0, 128), flags=st.sets(st.sampled_from([POST_POLICY, ADJ_RIB_OUT, ANNOUNCED, SYNTHETIC,
                                                                 LOC_RIB])),
       scalars=st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), u16, u32, u32, st.integers(0, 255),
                         u32, st.integers(0, 2**64 - 1)),
       reach=st.tuples(st.sampled_from([0, 1, 2, 25, 16388]), st.integers(0, 255)))
def test_every_field_reads_back(attrs, nh, ll, router, peer, prefix, plen, flags, scalars, reach):
    t_recv, t_hdr, rport, bgp_id, asn, ptype, path_id, dist = scalars
    f = 0
    for x in flags:
        f |= x
    t = UpdateWriter().template(attrs, nh, ll, reach, (2, 1))
    msg = encode_row(t, t_recv, t_hdr, rport, router, peer, bgp_id, asn, ptype, dist, prefix, plen, f, path_id)
    (u,) = [m.to_dict() for m in load_schema("update.capnp").Update.read_multiple_bytes(msg)]
    assert (u["timeReceivedNs"], u["timeBmpHeaderNs"], u["routerPort"], u["routerAddr"], u["peerAddr"]) == \
        (t_recv, t_hdr, rport, router, peer)
    assert (u["peerBgpId"], u["peerAsn"], u["peerType"], u["peerDistinguisher"], u["pathId"]) == \
        (bgp_id, asn, ptype, dist, path_id)
    assert (u["prefixAddr"], u["prefixLen"]) == (prefix, plen)
    assert (u["isPostPolicy"], u["isAdjRibOut"], u["announced"], u["synthetic"], u["isLocRib"]) == \
        tuple(x in flags for x in (POST_POLICY, ADJ_RIB_OUT, ANNOUNCED, SYNTHETIC, LOC_RIB))
    assert u["origin"] == attrs.origin and u["asPath"] == list(attrs.as_path)
    assert u["nextHop"] == nh and u["nextHopLinkLocal"] == ll
    assert (u["multiExitDisc"], u["localPreference"], u["onlyToCustomer"], u["atomicAggregate"]) == \
        (attrs.med, attrs.local_pref, attrs.only_to_customer, attrs.atomic_aggregate)
    assert (u["aggregatorAsn"], u["aggregatorBgpId"], u["originatorId"]) == \
        (attrs.aggregator_asn, attrs.aggregator_bgp_id, attrs.originator_id)
    assert u["communities"] == [{"asn": a, "value": v} for a, v in attrs.communities]
    assert u["extendedCommunities"] == [{"typeHigh": c.type_high, "typeLow": c.type_low, "value": c.value}
                                        for c in attrs.extended_communities]
    assert u["largeCommunities"] == [{"globalAdmin": g, "localDataPart1": a, "localDataPart2": b}
                                     for g, a, b in attrs.large_communities]
    assert u["clusterList"] == list(attrs.cluster_list)
    kept = reach[0] if reach[0] in (1, 2, 16388) else 0
    assert (u["mpReachAfi"], u["mpReachSafi"]) == (kept, reach[1] if reach[1] in (1, 2) else 0)
    assert (u["mpUnreachAfi"], u["mpUnreachSafi"]) == (2, 1)


def test_attribute_identity_is_stable_and_sensitive():
    a = PathAttributes(origin="IGP", as_path=(1, 2), communities=((1, 2),))
    t1 = UpdateWriter().template(a, b"\0" * 16, b"\0" * 16, (0, 0), (0, 0))
    t2 = UpdateWriter().template(PathAttributes(origin="IGP", as_path=(1, 2), communities=((1, 2),)),
                                 b"\0" * 16, b"\0" * 16, (0, 0), (0, 0))
    t3 = UpdateWriter().template(PathAttributes(origin="IGP", as_path=(1, 2), communities=((1, 3),)),
                                 b"\0" * 16, b"\0" * 16, (0, 0), (0, 0))
    assert t1.attr_id == t2.attr_id != t3.attr_id
