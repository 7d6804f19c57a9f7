"""Who is calling: the agents' shared bearer key, and users' OIDC access tokens.

User tokens are compact JWS (JWT) signed by the OIDC provider with an
asymmetric key published in its JWKS (`auth.jwks_url`, or the `jwks_uri` of
`<issuer>/.well-known/openid-configuration`). A token is accepted when its
signature verifies with the key named by its `kid` under an allowed
algorithm, `iss` equals `auth.issuer`, `aud` contains `auth.audience`, `exp`
is present and not past, `nbf`/`iat` are not in the future (each with
`auth.leeway` seconds of skew), and `sub` is a non-empty string; the user is
`sub`. The JWKS is cached; an unknown `kid` refreshes it (at most once every
`jwks_min_refresh` seconds, so forged kids cannot make the gateway hammer the
provider). joserfc does the JOSE work: small, typed, maintained, and it
refuses `none` and keys of the wrong type for an algorithm.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import Callable

import aiohttp
from joserfc import errors as jose_errors
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from nxthdr.core import logs

log = logging.getLogger("nxthdr.saimiris.gateway.auth")


class Unauthorized(Exception):
    """401: no or bad credentials; the message says which check failed."""


class AuthUnavailable(Exception):
    """503: the identity provider's keys cannot be fetched."""


def bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class AgentKey:
    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("the agent key is empty")
        self._key = key.encode("utf-8")

    def check(self, authorization: str | None) -> None:
        token = bearer(authorization)
        if token is None:
            raise Unauthorized("missing agent key: send Authorization: Bearer <agent key>")
        if not hmac.compare_digest(token.encode("utf-8"), self._key):
            raise Unauthorized("invalid agent key")


class JwksCache:
    """The provider's signing keys, fetched lazily and refreshed on a schedule or an unknown kid."""

    def __init__(self, jwks_url: str, issuer: str, refresh_interval: float, min_refresh: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.refresh_interval = refresh_interval
        self.min_refresh = min_refresh
        self.clock = clock
        self._keys: KeySet | None = None
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get_json(self, url: str) -> dict:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        async with self._session.get(url, headers={"Accept": "application/json"}) as resp:
            if resp.status != 200:
                raise AuthUnavailable(f"{url} answered HTTP {resp.status}")
            data = await resp.json(content_type=None)
        if not isinstance(data, dict):
            raise AuthUnavailable(f"{url} did not return a JSON object")
        return data

    async def _jwks_url(self) -> str:
        if self.jwks_url:
            return self.jwks_url
        doc = await self._get_json(self.issuer.rstrip("/") + "/.well-known/openid-configuration")
        if doc.get("issuer") != self.issuer:
            raise AuthUnavailable(f"discovery document names issuer {doc.get('issuer')!r}, expected {self.issuer!r}")
        uri = doc.get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise AuthUnavailable("discovery document has no jwks_uri")
        self.jwks_url = uri
        return uri

    async def _fetch(self) -> None:
        try:
            url = await self._jwks_url()
            data = await self._get_json(url)
            keys = KeySet.import_key_set(data)
        except AuthUnavailable:
            raise
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, jose_errors.JoseError) as e:
            raise AuthUnavailable(f"cannot fetch the JWKS: {type(e).__name__}: {e}") from None
        self._keys = keys
        self._fetched_at = self.clock()
        logs.event(log, logging.INFO, "JWKS loaded", url=url, keys=len(keys.keys))

    async def keys(self, want_kid: str | None = None) -> KeySet:
        async with self._lock:
            now = self.clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self.refresh_interval
            missing = (want_kid is not None and self._keys is not None and self._fetched_at is not None
                       and not any(k.kid == want_kid for k in self._keys.keys)
                       and now - self._fetched_at >= self.min_refresh)
            if stale or missing:
                try:
                    await self._fetch()
                except AuthUnavailable as e:
                    if self._keys is None:
                        raise
                    logs.event(log, logging.WARNING, "JWKS refresh failed, keeping the cached keys", error=str(e))
            return self._keys


class TokenVerifier:
    def __init__(self, jwks: JwksCache, issuer: str, audience: str, algorithms: list[str], leeway: int) -> None:
        self.jwks = jwks
        self.algorithms = list(algorithms)
        self.claims = jwt.JWTClaimsRegistry(
            leeway=leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": audience},
            exp={"essential": True},
            sub={"essential": True},
        )

    async def verify(self, authorization: str | None) -> str:
        """The `sub` of a valid token; raises Unauthorized (or AuthUnavailable)."""
        token = bearer(authorization)
        if token is None:
            raise Unauthorized("missing bearer token: send Authorization: Bearer <access token>")
        if token.count(".") != 2:
            raise Unauthorized("malformed token: expected a compact JWS (header.payload.signature)")
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
        except (jose_errors.JoseError, ValueError, UnicodeError):
            raise Unauthorized("malformed token") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.algorithms:
            raise Unauthorized(f"token algorithm {alg!r} is not accepted")
        if kid is not None and not isinstance(kid, str):
            raise Unauthorized("malformed token: kid is not a string")
        keys = await self.jwks.keys(want_kid=kid)
        if kid is None:
            if len(keys.keys) != 1:
                raise Unauthorized("token has no kid and the provider publishes several keys")
            key = keys.keys[0]
        else:
            try:
                key = keys.get_by_kid(kid)
            except jose_errors.JoseError:
                raise Unauthorized(f"unknown signing key {kid!r}") from None
        try:
            decoded = jwt.decode(token, key, algorithms=[alg])
        except jose_errors.BadSignatureError:
            raise Unauthorized("bad token signature") from None
        except (jose_errors.JoseError, ValueError, TypeError) as e:
            raise Unauthorized(f"invalid token: {_reason(e)}") from None
        try:
            self.claims.validate(decoded.claims)
        except jose_errors.ExpiredTokenError:
            raise Unauthorized("token expired") from None
        except jose_errors.JoseError as e:
            raise Unauthorized(f"invalid token: {_reason(e)}") from None
        sub = decoded.claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthorized("invalid token: sub must be a non-empty string")
        return sub


def _reason(e: Exception) -> str:
    return getattr(e, "description", None) or str(e) or type(e).__name__
