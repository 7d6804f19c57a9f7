"""User authentication: OIDC access tokens verified against a JWKS served on loopback."""

from __future__ import annotations

import contextlib
import time

import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from tests.saimiris.gateway.helpers import gateway_config, probes, run, running

ISSUER_PATH = "/oidc"
AUDIENCE = "https://api.saimiris.example"


@pytest.fixture(scope="module")
def keys():
    return {"rsa": RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}),
            "ec": ECKey.generate_key("P-256", parameters={"kid": "ec-1"}),
            "rogue": RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}),  # same kid, other key
            "unpublished": RSAKey.generate_key(2048, parameters={"kid": "rsa-2"})}


@contextlib.asynccontextmanager
async def provider(keys, *, fail: bool = False):
    """An OIDC provider's discovery document and JWKS on 127.0.0.1; yields (issuer, jwks_url, hits)."""
    hits = {"jwks": 0, "discovery": 0}
    base = {}

    async def jwks(request):
        hits["jwks"] += 1
        if fail:
            return web.Response(status=503)
        return web.json_response({"keys": [keys["rsa"].as_dict(private=False), keys["ec"].as_dict(private=False)]})

    async def discovery(request):
        hits["discovery"] += 1
        return web.json_response({"issuer": base["issuer"], "jwks_uri": base["issuer"] + "/jwks"})

    app = web.Application()
    app.router.add_get(ISSUER_PATH + "/jwks", jwks)
    app.router.add_get(ISSUER_PATH + "/.well-known/openid-configuration", discovery)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    base["issuer"] = f"http://127.0.0.1:{port}{ISSUER_PATH}"
    try:
        yield base["issuer"], base["issuer"] + "/jwks", hits
    finally:
        await runner.cleanup()


def token(key, issuer, *, alg="RS256", kid=True, **claims):
    now = int(time.time())
    body = {"iss": issuer, "aud": AUDIENCE, "sub": "user-a", "iat": now, "exp": now + 300}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    header = {"alg": alg}
    if kid and getattr(key, "kid", None):
        header["kid"] = key.kid
    return jwt.encode(header, body, key, algorithms=[alg])


def auth(tok):
    return {"Authorization": f"Bearer {tok}"}


def jwt_config(db_url, issuer, jwks_url=""):
    return gateway_config(db_url, auth={"dev_mode": False, "issuer": issuer, "audience": AUDIENCE,
                                        "jwks_url": jwks_url, "jwks_min_refresh": 0})


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_tokens_are_checked_for_signature_issuer_audience_expiry_and_key(db_url, keys):
    async def scenario():
        async with provider(keys) as (issuer, jwks_url, hits):
            async with running(jwt_config(db_url, issuer, jwks_url)) as c:
                good = [token(keys["rsa"], issuer), token(keys["ec"], issuer, alg="ES256"),
                        token(keys["rsa"], issuer, alg="PS256"),
                        token(keys["rsa"], issuer, aud=["other", AUDIENCE])]
                for tok in good:
                    status, me = await c.call("GET", "/api/user/me", headers=auth(tok))
                    assert status == 200 and me["sub"] == "user-a", me
                now = int(time.time())
                bad = {
                    "expired": (token(keys["rsa"], issuer, exp=now - 3600, iat=now - 7200), "token expired"),
                    "no exp": (token(keys["rsa"], issuer, exp=None), "exp"),
                    "not yet valid": (token(keys["rsa"], issuer, nbf=now + 3600), "not yet valid"),
                    "wrong issuer": (token(keys["rsa"], "https://evil.example/oidc"), "iss"),
                    "wrong audience": (token(keys["rsa"], issuer, aud="https://other-api.example"), "aud"),
                    "no audience": (token(keys["rsa"], issuer, aud=None), "aud"),
                    "no sub": (token(keys["rsa"], issuer, sub=None), "sub"),
                    "bad signature": (token(keys["rogue"], issuer), "bad token signature"),
                    "unknown kid": (token(keys["unpublished"], issuer), "unknown signing key 'rsa-2'"),
                    "hmac": (token(OctKey.import_key(b"k" * 32), issuer, alg="HS256"), "algorithm 'HS256'"),
                    "tampered": (good[0][:-4] + ("AAAA" if not good[0].endswith("AAAA") else "BBBB"), "signature"),
                    "garbage": ("not.a.jwt", "malformed"),
                    "two parts": ("abc.def", "malformed"),
                }
                for name, (tok, expected) in bad.items():
                    status, resp = await c.call("GET", "/api/user/me", headers=auth(tok))
                    assert status == 401 and expected in resp["error"], (name, resp)
                unsigned = "eyJhbGciOiJub25lIn0." + good[0].split(".")[1] + "."
                status, resp = await c.call("GET", "/api/user/me", headers=auth(unsigned))
                assert status == 401 and "'none'" in resp["error"]
                for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
                    status, resp = await c.call("GET", "/api/user/me", headers=headers)
                    assert status == 401 and "missing bearer token" in resp["error"]
                # The JWKS was fetched once at first use and again for each unknown kid, not per request.
                assert 1 <= hits["jwks"] <= 3
                # Every user route is protected.
                for method, path in (("GET", "/api/user/prefixes"), ("POST", "/api/probes"),
                                     ("GET", "/api/measurements"),
                                     ("GET", "/api/measurement/00000000-0000-4000-8000-000000000000/status"),
                                     ("POST", "/api/measurement/00000000-0000-4000-8000-000000000000/cancel")):
                    assert (await c.call(method, path))[0] == 401, path
                # The public API is not.
                assert (await c.call("GET", "/api/agents"))[0] == 200

    run(scenario())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_discovery_and_users_are_isolated(db_url, keys):
    async def scenario():
        async with provider(keys) as (issuer, _, hits):
            async with running(jwt_config(db_url, issuer)) as c:  # no jwks_url: discovery
                a, b = auth(token(keys["rsa"], issuer, sub="user-a")), auth(token(keys["ec"], issuer, alg="ES256",
                                                                                   sub="user-b"))
                await c.healthy_agent("a1")
                pa = (await c.call("GET", "/api/user/prefixes", headers=a))[1]
                pb = (await c.call("GET", "/api/user/prefixes", headers=b))[1]
                assert hits["discovery"] == 1
                assert pa["user_id"] != pb["user_id"]
                assert pa["agents"][0]["prefixes"][0]["user_prefix"] != pb["agents"][0]["prefixes"][0]["user_prefix"]
                src_a = c.source_for("user-a")
                status, resp = await c.submit([("a1", src_a)], probes(3), headers=a)
                assert status == 200
                mid = resp["id"]
                # b can neither use a's prefix nor see or cancel a's measurement.
                assert (await c.submit([("a1", src_a)], probes(3), headers=b))[0] == 403
                assert (await c.call("GET", f"/api/measurement/{mid}/status", headers=b))[0] == 404
                assert (await c.call("POST", f"/api/measurement/{mid}/cancel", headers=b))[0] == 404
                assert (await c.call("GET", "/api/measurements", headers=b))[1] == []
                assert (await c.call("GET", "/api/user/me", headers=b))[1]["used"] == 0
                assert (await c.call("GET", "/api/user/me", headers=a))[1]["used"] == 3
                assert (await c.call("POST", f"/api/measurement/{mid}/cancel", headers=a))[0] == 200

    run(scenario())


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_unreachable_identity_provider_is_a_503(db_url, keys):
    async def scenario():
        async with provider(keys, fail=True) as (issuer, jwks_url, _):
            async with running(jwt_config(db_url, issuer, jwks_url)) as c:
                status, resp = await c.call("GET", "/api/user/me", headers=auth(token(keys["rsa"], issuer)))
                assert status == 503 and "identity provider" in resp["error"]

    run(scenario())
