"""Sans-I/O parts of the agent: configuration, instance selection, TTL filters, rate limiter, offsets."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from nxthdr.core import config
from nxthdr.core.addr import V4_MAPPED
from nxthdr.core.metrics import Metrics
from nxthdr.saimiris.agent import config as agent_config
from nxthdr.saimiris.agent.instances import InstanceTable, NoInstance
from nxthdr.saimiris.agent.offsets import OffsetTracker, PartitionOffsets
from nxthdr.saimiris.agent.ratelimit import RateLimiter
from nxthdr.saimiris.agent.sender import InstanceSender, Job, RawSockets, SenderCounters
from nxthdr.saimiris.agent.tracking import Measurements
from nxthdr.saimiris.probe import Probe, ip16
from tests.support.configs import program_config

SCHEMA = agent_config.SCHEMA


def cfg(instances, **over):
    return program_config(SCHEMA, {"agent": {"id": "a1"}, "caracat": instances}, over)


# -- configuration ---------------------------------------------------------------------------------

def test_instance_defaults_are_the_reference_ones():
    (inst,) = agent_config.instances(cfg([]))
    # integrity_check departs from the reference (off there): replies must prove themselves by default.
    assert (inst.batch_size, inst.instance_id, inst.packets, inst.probing_rate, inst.rate_limiting_method,
            inst.dry_run, inst.integrity_check, inst.min_ttl, inst.max_ttl) == (100, 0, 1, 100, "auto", False, True,
                                                                               None, None)
    c = cfg([])
    assert c["kafka"]["message_max_bytes"] == 990000 and c["kafka"]["out_batch_wait_time"] == 1000
    assert c["kafka"]["out_batch_wait_interval"] == 100 and c["agent"]["metrics_address"] == "0.0.0.0:8080"
    assert agent_config.group_id(c) == "saimiris-agent-a1"


@pytest.mark.parametrize("instances, message", [
    ([{"src_ipv4_prefix": "2001:db8::/32"}], "caracat.0.src_ipv4_prefix"),
    ([{"src_ipv6_prefix": "2001:db8::1/32"}], "has host bits set"),
    ([{"min_ttl": 9, "max_ttl": 3}], "min_ttl (9) is above max_ttl (3)"),
    ([{"name": "x"}, {"name": "x"}], "caracat.1.name: 'x' is used by another instance"),
    ([{"src_ipv6_prefix": "2001:db8::/32"}, {"src_ipv6_prefix": "2001:db8:1::/48"}], "overlaps"),
])
def test_instance_problems_are_named(instances, message):
    c = config.defaults(config.load_schema(SCHEMA))
    c["agent"]["id"] = "a1"
    c["caracat"] = instances
    problems = agent_config.check(c)
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize("item, where", [
    ({"rate_limiting_method": "fast"}, "caracat.0.rate_limiting_method"),
    ({"probing_rate": 0}, "caracat.0.probing_rate"),
    ({"packets": 0}, "caracat.0.packets"),
    ({"interfce": "eth0"}, "caracat.0.interfce: unknown setting (did you mean 'interface'?)"),
    ({"max_ttl": 256}, "caracat.0.max_ttl"),
])
def test_schema_rejects_bad_instances(item, where):
    with pytest.raises(config.ConfigError) as e:
        cfg([item])
    assert any(p.startswith(where) for p in e.value.problems), e.value.problems


def test_gateway_needs_key_and_secret_files_readable(tmp_path):
    c = cfg([], gateway__url="http://gw:8080", gateway__agent_key_file=str(tmp_path / "missing"))
    problems = agent_config.check(c)
    assert any("gateway.agent_key_file: cannot read" in p for p in problems)
    (tmp_path / "k").write_text("key\n")
    (tmp_path / "s").write_text("secret\n")
    c = cfg([], gateway__url="http://gw:8080/", gateway__agent_key_file=str(tmp_path / "k"),
            gateway__agent_secret_file=str(tmp_path / "s"))
    gw = agent_config.gateway(c)
    assert (gw.url, gw.agent_key, gw.agent_secret) == ("http://gw:8080", "key", "secret")


def test_missing_agent_id_is_a_problem():
    c = config.defaults(config.load_schema(SCHEMA))
    assert "agent.id: required" in agent_config.check(c)[0]


# -- instance selection -----------------------------------------------------------------------------

def table():
    insts = agent_config.instances(cfg([
        {"name": "anycast", "src_ipv4_prefix": "192.0.2.0/24", "src_ipv6_prefix": "2001:db8:a::/48"},
        {"name": "unicast", "src_ipv6_prefix": "2001:db8:b::/48"},
        {"name": "plain"},
        {"name": "plain2"},
    ]))
    return InstanceTable(insts, {"plain": (V4_MAPPED + bytes([198, 51, 100, 1]), ip16("2001:db8:ffff::1")),
                                 "plain2": (V4_MAPPED + bytes([198, 51, 100, 2]), None)})


@pytest.mark.parametrize("src, name, v4, v6", [
    ("192.0.2.77", "anycast", "192.0.2.77", None),
    ("::ffff:192.0.2.78", "anycast", "192.0.2.78", None),
    ("2001:db8:a::1234", "anycast", None, "2001:db8:a::1234"),
    ("2001:db8:b:1::9", "unicast", None, "2001:db8:b:1::9"),
    ("203.0.113.1", "plain", "198.51.100.1", "2001:db8:ffff::1"),   # in no prefix: first instance without
    ("2001:db8:c::1", "plain", "198.51.100.1", "2001:db8:ffff::1"),
])
def test_selection(src, name, v4, v6):
    s = table().select(src)
    assert s.instance.name == name
    assert s.v4 == (ip16(v4) if v4 else None) and s.v6 == (ip16(v6) if v6 else None)


def test_no_instance_when_only_prefixes():
    t = InstanceTable(agent_config.instances(cfg([{"src_ipv6_prefix": "2001:db8:a::/48"}])), {})
    with pytest.raises(NoInstance):
        t.select("2001:db8:c::1")
    with pytest.raises(NoInstance, match="not an IP address"):
        t.select("not-an-ip")


def test_owner_of_reply_sources():
    t = table()
    assert t.owner(ip16("192.0.2.9")).name == "anycast"
    assert t.owner(ip16("2001:db8:b::1")).name == "unicast"
    assert t.owner(ip16("198.51.100.2")).name == "plain2"
    assert t.owner(ip16("198.51.100.3")) is None
    assert t.owner(ip16("198.51.100.3")) is None  # cached answer, same result


# -- TTL and family filters (dry run: nothing leaves, everything is counted) -------------------------

def run_job(instance: dict, probes: list[Probe], src: str):
    metrics = Metrics("t")
    counters = SenderCounters(metrics)
    insts = agent_config.instances(cfg([{"dry_run": True, "rate_limiting_method": "none", **instance}]))
    tbl = InstanceTable(insts, {insts[0].name: (V4_MAPPED + bytes([198, 51, 100, 1]), None)})
    sender = InstanceSender(insts[0], RawSockets(), metrics, counters, lambda mid: False)
    job = Job("m1", probes, tbl.select(src), True)
    assert sender._send_job(job) is True
    return job, counters


def test_ttl_and_family_filters():
    probes = [Probe(ip16("203.0.113.9"), 1000, 33434, ttl, "udp") for ttl in range(1, 11)]
    probes.append(Probe(ip16("2001:db8::9"), 1000, 33434, 5, "udp"))  # no IPv6 source on this instance
    probes.append(Probe(ip16("203.0.113.9"), 1000, 80, 5, "tcp"))
    job, c = run_job({"min_ttl": 3, "max_ttl": 7, "packets": 2}, probes, "203.0.113.1")
    assert c.filtered.get(("min_ttl",)) == 2 and c.filtered.get(("max_ttl",)) == 3
    assert c.filtered.get(("family",)) == 1 and c.filtered.get(("protocol",)) == 1
    assert job.sent == 5 and c.dry_run.get(()) == 5 and c.sent.get(()) == 0


def test_cancelled_job_is_dropped_before_sending():
    metrics = Metrics("t")
    counters = SenderCounters(metrics)
    (inst,) = agent_config.instances(cfg([{"dry_run": True}]))
    tbl = InstanceTable([inst], {inst.name: (V4_MAPPED + bytes(4), None)})
    sender = InstanceSender(inst, RawSockets(), metrics, counters, lambda mid: mid == "gone")
    job = Job("gone", [Probe(ip16("203.0.113.9"), 1, 2, 3, "udp")] * 4, tbl.select("1.2.3.4"), False)
    assert sender._send_job(job) and job.cancelled and job.sent == 0
    assert counters.filtered.get(("cancelled",)) == 4


def test_progress_reports_are_cumulative_and_end_on_cancel():
    reports = []
    m = Measurements(lambda *a: reports.append(a))
    m.done("x", 10, False)
    m.done("x", 5, False)
    m.cancel("x")
    m.done("x", 2, False)  # a record finishing after the cancellation ends the measurement too
    assert reports == [("x", 10, False), ("x", 15, False), ("x", 15, True), ("x", 17, True)]
    assert m.is_cancelled("x") and not m.is_cancelled("y")


# -- rate limiter ---------------------------------------------------------------------------------

class FakeClock:
    def __init__(self, tick: float = 0.0):
        self.t = 100.0
        self.tick = tick  # time each reading takes: busy-waiting ends
        self.slept = []

    def __call__(self):
        self.t += self.tick
        return self.t

    def sleep(self, d):
        self.slept.append(d)
        self.t += d


def test_schedule_holds_the_rate_without_accumulating_overshoot():
    clock = FakeClock()
    rl = RateLimiter(1000, "sleep", clock=clock, sleep=clock.sleep)
    for _ in range(50):  # batches of 100 at 1000 pps, sending itself takes no time
        rl.after(100)
    assert clock.t == pytest.approx(105.0)  # 5000 packets: 5 s
    # A batch that took longer than its share is followed by a shorter wait.
    clock.t += 0.05
    assert rl.plan(100, clock.t) == pytest.approx(0.05)


def test_idle_time_is_not_credit_and_lag_is_forgiven():
    clock = FakeClock()
    rl = RateLimiter(100, "sleep", clock=clock, sleep=clock.sleep, max_lag=0.1)
    clock.t += 60  # idle
    rl.restart()
    assert rl.plan(10, clock.t) == pytest.approx(0.1)  # not a burst of 60 s worth
    clock.t += 10  # slow sender: 10 s behind
    assert rl.plan(10, clock.t) == 0
    assert rl.next == pytest.approx(clock.t - 0.1)  # at most max_lag of catch-up


def test_methods():
    for method in ("sleep", "auto", "active"):
        clock = FakeClock(tick=1e-6)
        rl = RateLimiter(100, method, clock=clock, sleep=clock.sleep, spin=0.001)
        rl.after(100)
        assert clock.t >= rl.next  # waited until the packets were due
        if method == "sleep":
            assert clock.slept == [pytest.approx(1.0, abs=1e-4)]
        elif method == "auto":  # sleeps all but the last millisecond, spins the rest
            assert clock.slept == [pytest.approx(0.999, abs=1e-4)]
        else:
            assert clock.slept == []
    rl = RateLimiter(100, "none", clock=clock, sleep=clock.sleep)
    assert rl.after(10 ** 6) == 0
    with pytest.raises(ValueError):
        RateLimiter(100, "turbo")


# -- offsets ---------------------------------------------------------------------------------------

def test_commit_waits_for_the_first_pending_record():
    p = PartitionOffsets()
    for o in (10, 11, 12):
        p.add(o)
    p.done(11)
    p.done(12)
    assert p.committable() == 10
    p.committed = 10
    assert p.committable() is None
    p.done(10)
    assert p.committable() == 13
    t = OffsetTracker()
    t.add("tp", 5)
    t.done("other", 5)  # a revoked partition is ignored
    t.forget(["tp"])
    assert t.committable() == {}


def test_sender_thread_reports_done_jobs():
    async def go():
        metrics = Metrics("t")
        (inst,) = agent_config.instances(cfg([{"dry_run": True, "rate_limiting_method": "none"}]))
        tbl = InstanceTable([inst], {inst.name: (V4_MAPPED + bytes(4), None)})
        sender = InstanceSender(inst, RawSockets(), metrics, SenderCounters(metrics), lambda mid: False)
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        await sender.start()
        sender.submit(Job("m", [Probe(ip16("203.0.113.9"), 1, 2, 3, "udp")] * 250, tbl.select("1.2.3.4"), True,
                          lambda job: loop.call_soon_threadsafe(done.set_result, job)))
        job = await asyncio.wait_for(done, 10)
        await sender.stop()
        return job, sender.queued_probes

    job, queued = asyncio.run(go())
    assert job.sent == 250 and queued == 0


def test_prefix_types():
    (inst,) = agent_config.instances(cfg([{"src_ipv6_prefix": "2001:db8::/32"}]))
    assert inst.src_ipv6_prefix == ipaddress.IPv6Network("2001:db8::/32")
    assert inst.gateway_view("eth0")["src_ipv6_prefix"] == "2001:db8::/32"
