"""saimiris client: CSV errors name the line and field; argument errors are clear; nothing is sent on bad input."""

from __future__ import annotations

import io

import pytest

from nxthdr.saimiris import client


def run(argv, stdin=""):
    err = io.StringIO()
    import contextlib

    with contextlib.redirect_stderr(err):
        code = client.main(argv, stdin=io.StringIO(stdin))
    return code, err.getvalue()


@pytest.mark.parametrize("csv, message", [
    ("2001:db8::1,24000,33434,5,UDP\n2001:db8::1,24000,33434,300,UDP\n", "stdin: line 2: field ttl: not an integer in 0..255: '300'"),
    ("# comment\n\nnot-an-ip,1,2,3,UDP\n", "stdin: line 3: field dst_addr: not an IP address: 'not-an-ip'"),
    ("2001:db8::1,1,2,3,TCP\n", "line 1: field protocol: unknown protocol 'TCP' (expected ICMP, ICMPv6 or UDP)"),
    ("2001:db8::1,1,2,3\n", "line 1: expected 5 comma-separated fields"),
    ("2001:db8::1,1,2,3,ICMP\n", "line 1: field protocol: icmp needs an IPv4 destination (use icmpv6)"),
    ("2001:db8::1,70000,2,3,UDP\n", "line 1: field src_port"),
    ("", "stdin: no probes"),
])
def test_csv_errors(csv, message):
    code, err = run(["--brokers", "127.0.0.1:1", "--agent", "a:2001:db8::5"], csv)
    assert code == 2 and message in err, err


@pytest.mark.parametrize("argv, message", [
    (["--agent", "a:::1"], "give exactly one of --gateway URL and --brokers"),
    (["--brokers", "x:1", "--gateway", "http://g", "--agent", "a:::1"], "give exactly one"),
    (["--brokers", "x:1"], "--agent ID:SRC_IP: at least one target agent"),
    (["--brokers", "x:1", "--agent", "nocolon"], "expected AGENT_ID:SOURCE_IP"),
    (["--brokers", "x:1", "--agent", "a:999.1.1.1"], "'999.1.1.1' is not an IP address"),
])
def test_argument_errors(argv, message):
    code, err = run(argv, "2001:db8::1,1,2,3,UDP\n")
    assert code == 2 and message in err, err


def test_targets_keep_colons_of_ipv6():
    assert client.parse_target("vltcdg01:2a0e:97c0:8a0::10") == ("vltcdg01", "2a0e:97c0:8a0::10")


def test_file_input_and_unreachable_gateway(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text("2001:db8::1,24000,33434,5,udp\n")
    code, err = run(["--gateway", "http://127.0.0.1:1", "--agent", "a:2001:db8::5", "--timeout", "2", str(f)])
    assert code == 1 and "cannot reach the gateway" in err
    code, err = run(["--brokers", "127.0.0.1:1", "--agent", "a:2001:db8::5", str(tmp_path / "missing.csv")])
    assert code == 2 and "missing.csv: No such file" in err
