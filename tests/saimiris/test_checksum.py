from hypothesis import given, settings
from hypothesis import strategies as st

from nxthdr.saimiris.checksum import (
    checksum_tweak,
    internet_checksum,
    ipv4_pseudo_header_sum,
    ipv6_pseudo_header_sum,
    ones_add,
    ones_sum,
    probe_id,
    verify,
)
from tests.saimiris.wire import a4, a6, pseudo4, pseudo6, rfc1071, u16


def test_rfc1071_example():
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
    data = bytes.fromhex("0001f203f4f5f6f7")
    assert ones_sum(data) == 0xDDF2
    assert internet_checksum(data) == 0x220D == rfc1071(data)


@settings(max_examples=300)
@given(st.binary(max_size=300), st.integers(0, 0xFFFF))
def test_internet_checksum_matches_reference(data, initial):
    assert internet_checksum(data) == rfc1071(data)
    # A partial sum is one more 16-bit word.
    assert internet_checksum(data, initial) == rfc1071(data + (b"\0" if len(data) % 2 else b"") + u16(initial))


def test_ones_zero_is_0xffff_unless_all_zero():
    assert ones_sum(b"") == 0
    assert ones_sum(b"\0\0\0") == 0
    assert ones_sum(b"\xff\xff") == 0xFFFF
    assert ones_sum(b"\x80\x00\x7f\xff") == 0xFFFF
    assert ones_add(0xFFFF, 0) == 0xFFFF
    assert ones_add(0, 0) == 0
    assert ones_add(0x8000, 0x8000) == 0x0001  # end-around carry


def test_pseudo_headers_match_layout():
    src, dst = a4("192.0.2.1"), a4("8.8.8.8")
    assert internet_checksum(b"", ipv4_pseudo_header_sum(src, dst, 17, 36)) == rfc1071(pseudo4(src, dst, 17, 36))
    src6, dst6 = a6("2001:db8::1"), a6("2001:4860:4860::8888")
    for length in (12, 70000):
        assert internet_checksum(b"", ipv6_pseudo_header_sum(src6, dst6, 58, length)) == rfc1071(
            pseudo6(src6, dst6, 58, length))


def test_golden_udp_tweak():
    """Spec golden example: IPv6 UDP 24000 -> 33434, length 12, target 0xb8cb -> tweak 2e b4."""
    src = a6("2a04:8ec0:0:164:620c:e59a:daf8:21e9")
    dst = a6("2001:4860:4860::8888")
    # Pseudo-header + UDP header with the checksum field skipped + zero payload.
    partial = rfc1071(pseudo6(src, dst, 17, 12) + u16(24000) + u16(33434) + u16(12) + b"\0\0" + bytes(4))
    partial_sum = ~partial & 0xFFFF
    assert checksum_tweak(partial_sum, 0xB8CB) == 0x2EB4
    segment = u16(24000) + u16(33434) + u16(12) + u16(0xB8CB) + bytes.fromhex("2eb40000")
    assert verify(segment, ipv6_pseudo_header_sum(src, dst, 17, 12))
    assert rfc1071(pseudo6(src, dst, 17, 12) + segment) == 0


@settings(max_examples=300)
@given(st.binary(min_size=2, max_size=64).filter(lambda b: len(b) % 2 == 0), st.integers(0, 0xFFFF))
def test_tweak_makes_any_target_valid(data, target):
    # The tweak closes the sum of any data (with a non-zero word) to the chosen checksum.
    data = b"\x12\x34" + data
    word = checksum_tweak(ones_sum(data), target)
    assert 0 <= word <= 0xFFFF
    assert rfc1071(data + u16(word) + u16(target)) == 0


def test_probe_id_formula_and_byte_order():
    # (instance + dst as little-endian u32 + port + ttl) mod 65535, complemented.
    dst = a4("8.8.4.4")  # little-endian value 0x04040808
    total = 0 + 0x04040808 + 24000 + 7
    assert probe_id(0, dst, 24000, 7) == 0xFFFF - total % 65535
    assert probe_id(1, dst, 24000, 7) == 0xFFFF - (total + 1) % 65535
    # The sum wraps at 2**32 like the reference engine's unsigned arithmetic.
    big = a4("1.2.255.255")  # 0xFFFF0201 little-endian
    total = (5 + 0xFFFF0201 + 65535 + 255) & 0xFFFFFFFF
    assert probe_id(5, big, 65535, 255) == 0xFFFF - total % 65535


@settings(max_examples=300)
@given(st.integers(0, 0xFFFF), st.binary(min_size=4, max_size=4), st.integers(0, 0xFFFF), st.integers(0, 255))
def test_probe_id_never_zero(instance_id, dst, port, ttl):
    assert 1 <= probe_id(instance_id, dst, port, ttl) <= 0xFFFF
