"""The served OpenAPI description, exercised with schemathesis against the running gateway (dev mode, SQLite)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from tests.conftest import IN_CI  # noqa: E402

try:
    import schemathesis
except ImportError:  # a test extra: missing in CI is a failure, elsewhere a skip with the reason
    if IN_CI:
        raise
    pytest.skip("schemathesis not installed (pip install -e .[test])", allow_module_level=True)
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

from nxthdr.saimiris.gateway.openapi import document  # noqa: E402
from tests.saimiris.gateway.helpers import AGENT_KEY, Client, RecordingPublisher, gateway_config  # noqa: E402

SECRET = "schemathesis-secret"

schema = schemathesis.openapi.from_dict(document(dev_mode=True))  # what the dev-mode gateway serves


class Background:
    """The gateway on its own event loop in a thread, so the synchronous schemathesis client can call it."""

    def __init__(self, cfg: dict) -> None:
        from nxthdr.saimiris.gateway.app import build

        self.loop = asyncio.new_event_loop()
        self.gw = build(cfg, publisher=RecordingPublisher(cfg))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coro, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self) -> "Background":
        self.thread.start()
        self.call(self.gw.supervisor.start())
        return self

    def __exit__(self, *exc) -> None:
        self.call(self.gw.supervisor.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory):
    cfg = gateway_config(f"sqlite:///{tmp_path_factory.mktemp('st') / 'gw.db'}")
    with Background(cfg) as bg:
        async def seed():
            import aiohttp

            async with aiohttp.ClientSession() as session:
                c = Client(bg.gw, session)
                await c.register("st-agent", SECRET)
                await c.agent("st-agent", "/config", [{"name": "unicast", "src_ipv6_prefix": "2001:db8::/48"}])
                await c.agent("st-agent", "/health", {"healthy": True})
                await c.submit([("st-agent", c.source_for("dev-user", "2001:db8::/48"))],
                               [["2001:db8:ffff::1", 1, 2, 3, "udp"]])

        bg.call(seed())
        yield f"http://127.0.0.1:{bg.gw.server.bound_port}"


CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.negative_data_rejection]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_route_conforms_and_never_fails(case, gateway_url):
    case.call_and_validate(base_url=gateway_url, checks=CHECKS, timeout=10,
                           headers={"Authorization": f"Bearer {AGENT_KEY}", "X-Agent-Secret": SECRET})


def test_the_served_document_is_the_one_tested(gateway_url):
    import json
    import urllib.request

    with urllib.request.urlopen(gateway_url + "/openapi.json", timeout=10) as resp:
        served = json.load(resp)
    assert served == json.loads(json.dumps(document(dev_mode=True)))
    assert served["openapi"].startswith("3.")


def test_every_route_is_described():
    from nxthdr.core.metrics import Metrics
    from nxthdr.saimiris.gateway.api import GatewayApi

    from nxthdr.saimiris.gateway.agents import AgentRegistry

    api = GatewayApi(registry=AgentRegistry(), store=None, publisher=None, agent_key=None, verifier=None, dev_user="u",
                     daily_limit=1, enforce_prefix=True, max_probes=1, metrics=Metrics("t"))
    app = api.app(1024, document())
    routes = {(r.method.lower(), r.resource.canonical.replace("{mid}", "{mid}")) for r in app.router.routes()
              if r.method != "HEAD"}
    described = {(m, p) for p, item in document()["paths"].items() for m in item}
    assert routes == described
    prod = document()
    assert prod["paths"]["/api/probes"]["post"]["security"] == [{"userToken": []}]
    assert "401" in prod["paths"]["/api/probes"]["post"]["responses"]
