"""Schema migrations and persistence, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from nxthdr.saimiris.gateway.db import MIGRATIONS, DatabaseError, Migration, open_database
from nxthdr.saimiris.gateway.store import Store
from tests.saimiris.gateway.helpers import DEV_USER, gateway_config, probes, run, running


def test_migrations_apply_in_order_once(db_url):
    async def scenario():
        db = open_database(db_url)
        await db.start()
        try:
            assert await db.schema_version() == 0
            assert await db.migrate(MIGRATIONS[:1]) == [1]
            assert await db.schema_version() == 1
            # The next program version finds version 1 and applies only what is missing.
            assert await db.migrate() == [m.version for m in MIGRATIONS[1:]]
            assert await db.migrate() == []
            assert await db.schema_version() == MIGRATIONS[-1].version
            extra = Migration(MIGRATIONS[-1].version + 1, "test column", (
                "ALTER TABLE measurements ADD COLUMN note TEXT",))
            assert await db.migrate([*MIGRATIONS, extra]) == [extra.version]
            # An older program refuses a newer database instead of guessing.
            with pytest.raises(DatabaseError, match="newer than this program"):
                await db.migrate()
        finally:
            await db.stop()

    run(scenario())


def test_a_failed_migration_leaves_the_previous_version(db_url):
    async def scenario():
        db = open_database(db_url)
        await db.start()
        try:
            await db.migrate()
            broken = Migration(MIGRATIONS[-1].version + 1, "broken", (
                "CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"))
            with pytest.raises(Exception):
                await db.migrate([*MIGRATIONS, broken])
            assert await db.schema_version() == MIGRATIONS[-1].version
            fixed = Migration(broken.version, "fixed", ("CREATE TABLE half_done (x INTEGER)",))
            assert await db.migrate([*MIGRATIONS, fixed]) == [fixed.version]
        finally:
            await db.stop()

    run(scenario())


def test_state_survives_a_restart_and_agents_do_not(db_url):
    async def scenario():
        cfg = gateway_config(db_url)
        async with running(cfg) as c:
            await c.healthy_agent("a1")
            mid = (await c.submit([("a1", c.source_for(DEV_USER))], probes(7)))[1]["id"]
        async with running(cfg) as c:
            assert (await c.call("GET", "/api/user/me"))[1]["used"] == 7
            assert [m["measurement_id"] for m in (await c.call("GET", "/api/measurements"))[1]] == [mid]
            assert (await c.call("GET", "/api/agents"))[1] == []
            # The agent gets 404 and registers again.
            assert (await c.agent("a1", f"/measurement/{mid}/status", {"sent_probes": 7, "is_complete": True},
                                  secret="s3cret"))[0] == 404
            await c.healthy_agent("a1")
            assert (await c.agent("a1", f"/measurement/{mid}/status", {"sent_probes": 7, "is_complete": True}))[0] \
                == 200
            assert (await c.call("GET", f"/api/measurement/{mid}/status"))[1]["status"] == "complete"

    run(scenario())


def test_user_id_collisions_are_refused(db_url):
    async def scenario():
        db = open_database(db_url)
        await db.start()
        try:
            await db.migrate()
            store = Store(db)
            await store.ensure_user("alice", 42, 0)
            await store.ensure_user("alice", 42, 1)  # idempotent
            from nxthdr.saimiris.gateway.store import UserIdCollision

            with pytest.raises(UserIdCollision):
                await store.ensure_user("mallory", 42, 2)
        finally:
            await db.stop()

    run(scenario())


def test_concurrent_submissions_never_exceed_the_limit(db_url):
    """The quota check and the reservation are one atomic step, also under concurrency."""
    import asyncio

    async def scenario():
        db = open_database(db_url)
        await db.start()
        try:
            await db.migrate()
            store = Store(db)

            async def one(i):
                try:
                    await store.create_measurement(f"m{i}", "u", "2025-01-01", 0, 7, [("a", "2001:db8::1")], 50)
                    return True
                except Exception:
                    return False

            results = await asyncio.gather(*(one(i) for i in range(20)))
            assert sum(results) == 7 and await store.usage("u", "2025-01-01") == 49
        finally:
            await db.stop()

    run(scenario())


def test_unsupported_urls():
    for url in ("mysql://x", "sqlite://relative", "sqlite:///"):
        with pytest.raises(ValueError):
            open_database(url)
