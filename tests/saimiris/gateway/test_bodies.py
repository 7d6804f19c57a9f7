"""Request bodies (issue 11): JSON only as application/json, bounded read time, client aborts not server errors."""

from __future__ import annotations

import asyncio

from tests.saimiris.gateway.helpers import gateway_config, run, running


def _requests_text(c) -> str:
    return c.gw.metrics.exposition().decode()


async def _raw(c, head: bytes, body: bytes, *, close: bool = False) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", c.gw.server.bound_port)
    writer.write(head + body)
    await writer.drain()
    if close:
        writer.close()
        await writer.wait_closed()
        return b""
    data = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    writer.close()
    return data


def test_content_type_timeout_and_aborts(tmp_path):
    async def go():
        async with running(gateway_config(f"sqlite:///{tmp_path / 'gw.db'}")) as c:
            status, _ = await c.register("a1")
            assert status in (200, 201)
            headers = c.agent_headers("a1")
            auth = "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "content-type")
            path = "/agent-api/agent/a1/health"
            status, resp = await c.call("POST", path, raw=b'{"healthy": true}',
                                        headers={**headers, "Content-Type": "text/plain"})
            assert status == 415, resp
            c.gw.api.body_timeout = 0.5
            head = (f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
                    "Content-Length: 1000\r\nConnection: close\r\n\r\n").encode()
            answer = await _raw(c, head, b'{"healthy":')
            assert answer.split(b" ", 2)[1] == b"408", answer[:200]
            # A client that gives up mid-body: counted as an abort, never as a 500.
            for _ in range(3):
                await _raw(c, head, b'{"healthy":', close=True)
            await asyncio.sleep(1.0)
            text = _requests_text(c)
            assert 'status="500"' not in text
            aborts = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                         if line.startswith("saimiris_gateway_http_client_aborts_total{") or
                         line.startswith("saimiris_http_client_aborts_total{"))
            assert aborts >= 3, text

    run(go())
