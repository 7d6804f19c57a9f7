"""parse_reply on hostile input: a Reply, None or ReplyError, never anything else.

Every Reply that comes out must also be encodable (all fields in range), since
the agent writes it to Kafka without further checks.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nxthdr.saimiris.reply import Reply, ReplyError, encode_reply, parse_reply
from tests.saimiris import test_reply as samples
from tests.saimiris.wire import extension, mpls_entry, mpls_object, pad

VALID = [
    samples.v4_error(11, 0, samples.quoted_udp4()),
    samples.v4_error(11, 0, samples.quoted_echo4()),
    samples.v4_error(11, 0, pad(samples.quoted_udp4(full=True)), length_words=32, ext=samples.TWO_LABELS),
    samples.v4_error(3, 3, pad(samples.quoted_echo4()), ext=samples.TWO_LABELS),
    samples.v6_error(3, 0, samples.quoted_udp6()),
    samples.v6_error(3, 0, pad(samples.quoted_echo6()), length_words=16,
                     ext=extension(mpls_object(*(mpls_entry(i, 1, i == 9, 3) for i in range(10))))),
    samples.v6_error(1, 4, samples.quoted_udp6()),
]


def check(packet: bytes) -> None:
    try:
        reply = parse_reply(packet, now_01ms=123_456_789, time_received_ns=1, agent_id="fuzz")
    except ReplyError as e:
        assert str(e)  # a reason, always
        return
    if reply is not None:
        assert isinstance(reply, Reply)
        encode_reply(reply)


def test_samples_are_replies():
    for packet in VALID:
        assert parse_reply(packet, now_01ms=0, time_received_ns=0, agent_id="") is not None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes(data):
    check(data)


@settings(max_examples=200)
@given(st.sampled_from((0x45, 0x46, 0x4F, 0x60)), st.binary(max_size=300))
def test_random_bytes_behind_a_plausible_version(first, rest):
    check(bytes((first,)) + rest)


mutation = st.tuples(st.sampled_from(("flip", "set", "cut", "insert", "delete")),
                     st.integers(0, 10_000), st.integers(0, 255))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID), st.lists(mutation, min_size=1, max_size=6))
def test_mutated_replies(packet, mutations):
    data = bytearray(packet)
    for kind, position, value in mutations:
        if not data:
            break
        i = position % len(data)
        if kind == "flip":
            data[i] ^= 1 << (value % 8)
        elif kind == "set":
            data[i] = value
        elif kind == "cut":
            del data[i:]
        elif kind == "insert":
            data[i:i] = bytes((value,))
        else:
            del data[i]
    check(bytes(data))


@settings(max_examples=200)
@given(st.sampled_from(VALID), st.binary(max_size=64))
def test_trailing_garbage(packet, tail):
    check(packet + tail)
