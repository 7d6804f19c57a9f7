"""Measurements, per-agent tracking and daily usage, on top of `db.Database`.

Quota accounting (probes actually sent, never more than reserved):

* A submission of N probes to A agents reserves N x A on the user's usage row
  of the submission's UTC day, atomically with the limit check
  (`UPDATE ... WHERE probes + n <= limit`), before anything is published.
  If publishing fails the measurement is deleted and the reservation
  released: nothing is counted.
* Each (measurement, agent) row carries `charged`, its share of that usage
  row. While the agent is running, charged = expected (N). When its part
  becomes final (the agent reports `is_complete`, or the user cancels), it
  drops to `min(sent_probes, N)` and the difference is refunded to the day
  of the submission. Reports after that only move charged up to
  `min(sent_probes, N)` (an agent still sending when the cancel arrived).
  `sent_probes` is cumulative and only increases (out-of-order reports are
  harmless); probes sent `packets` times still count once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nxthdr.saimiris.gateway.db import Database, UniqueViolation

STATUSES = ("in-progress", "complete", "cancelled")
SORTS = {"started": "m.created_at", "updated": "m.updated_at"}


class NotFound(Exception):
    pass


class QuotaExceeded(Exception):
    def __init__(self, used: int, requested: int, limit: int) -> None:
        super().__init__(f"daily probe limit exceeded: {used} used today, {requested} requested, limit {limit}")
        self.used, self.requested, self.limit = used, requested, limit


class AlreadyFinal(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(f"measurement is already {status}")
        self.status = status


class UserIdCollision(Exception):
    pass


@dataclass(frozen=True)
class ListFilter:
    statuses: tuple[str, ...] = ()
    since_ms: int | None = None
    until_ms: int | None = None
    agent: str | None = None
    sort: str = "updated"
    reverse: bool = False
    limit: int = 20


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- users -----------------------------------------------------------------------------

    async def ensure_user(self, sub: str, user_id: int, now_ms: int) -> None:
        """Record sub -> 32-bit id; raise UserIdCollision when another sub already has that id."""
        row = await self.db.fetchrow("SELECT sub FROM users WHERE user_id = $1", user_id)
        if row is not None:
            if row[0] != sub:
                raise UserIdCollision(user_id)
            return
        try:
            async with self.db.transaction() as tx:
                await tx.execute("INSERT INTO users (sub, user_id, created_at) VALUES ($1, $2, $3)",
                                 sub, user_id, now_ms)
        except UniqueViolation:
            row = await self.db.fetchrow("SELECT sub FROM users WHERE user_id = $1", user_id)
            if row is None or row[0] != sub:
                raise UserIdCollision(user_id) from None

    async def daily_limit(self, sub: str, default: int) -> int:
        """The user's own limit (a `user_limits` row, set by the operators) or the default."""
        own = await self.db.fetchval("SELECT daily_probe_limit FROM user_limits WHERE user_sub = $1", sub)
        return default if own is None else own

    async def set_daily_limit(self, sub: str, limit: int, note: str | None = None) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("INSERT INTO user_limits (user_sub, daily_probe_limit, note) VALUES ($1, $2, $3) "
                             "ON CONFLICT (user_sub) DO UPDATE SET daily_probe_limit = $2, note = $3", sub, limit, note)

    async def usage(self, sub: str, day: str) -> int:
        return await self.db.fetchval("SELECT probes FROM usage WHERE user_sub = $1 AND day = $2", sub, day) or 0

    async def measurements_today(self, sub: str, day: str) -> int:
        return await self.db.fetchval("SELECT COUNT(*) FROM measurements WHERE user_sub = $1 AND day = $2",
                                      sub, day) or 0

    # -- submission ------------------------------------------------------------------------

    async def create_measurement(self, mid: str, sub: str, day: str, now_ms: int, probes: int,
                                 targets: list[tuple[str, str]], limit: int) -> int:
        """Reserve probes x agents and record the measurement; returns the day's usage after it."""
        requested = probes * len(targets)
        async with self.db.transaction() as tx:
            await tx.execute("INSERT INTO usage (user_sub, day, probes) VALUES ($1, $2, 0) "
                             "ON CONFLICT (user_sub, day) DO NOTHING", sub, day)
            used = await tx.fetchval("UPDATE usage SET probes = probes + $3 WHERE user_sub = $1 AND day = $2 "
                                     "AND probes + $3 <= $4 RETURNING probes", sub, day, requested, limit)
            if used is None:
                current = await tx.fetchval("SELECT probes FROM usage WHERE user_sub = $1 AND day = $2", sub, day)
                raise QuotaExceeded(current or 0, requested, limit)
            await tx.execute("INSERT INTO measurements (id, user_sub, day, probes, status, created_at, updated_at) "
                             "VALUES ($1, $2, $3, $4, 'in-progress', $5, $5)", mid, sub, day, probes, now_ms)
            for agent_id, src_ip in targets:
                await tx.execute("INSERT INTO measurement_agents (measurement_id, agent_id, src_ip, expected_probes, "
                                 "sent_probes, is_complete, charged, updated_at) VALUES ($1, $2, $3, $4, 0, 0, $4, $5)",
                                 mid, agent_id, src_ip, probes, now_ms)
            return used

    async def discard_measurement(self, mid: str) -> None:
        """Forget a measurement that was never (fully) published and release what it reserved."""
        async with self.db.transaction() as tx:
            row = await tx.fetchrow("SELECT user_sub, day FROM measurements WHERE id = $1" + self.db.for_update, mid)
            if row is None:
                return
            charged = await tx.fetchval("SELECT CAST(COALESCE(SUM(charged), 0) AS BIGINT) FROM measurement_agents "
                                        "WHERE measurement_id = $1", mid) or 0
            await tx.execute("UPDATE usage SET probes = probes - $3 WHERE user_sub = $1 AND day = $2",
                             row[0], row[1], charged)
            await tx.execute("DELETE FROM measurement_agents WHERE measurement_id = $1", mid)
            await tx.execute("DELETE FROM measurements WHERE id = $1", mid)

    # -- agent reports ---------------------------------------------------------------------

    async def report(self, agent_id: str, mid: str, sent: int, complete: bool, now_ms: int) -> dict:
        """An agent's cumulative progress on a measurement; returns its tracking row."""
        async with self.db.transaction() as tx:
            m = await tx.fetchrow("SELECT user_sub, day, status FROM measurements WHERE id = $1" + self.db.for_update,
                                  mid)
            if m is None:
                raise NotFound(f"measurement {mid} not found")
            a = await tx.fetchrow("SELECT expected_probes, sent_probes, is_complete, charged FROM measurement_agents "
                                  "WHERE measurement_id = $1 AND agent_id = $2", mid, agent_id)
            if a is None:
                raise NotFound(f"agent {agent_id} is not a target of measurement {mid}")
            expected, old_sent, old_complete, old_charged = a
            new_sent = max(old_sent, sent)
            new_complete = bool(old_complete) or complete
            final = new_complete or m[2] == "cancelled"
            charged = min(new_sent, expected) if final else expected
            await tx.execute("UPDATE measurement_agents SET sent_probes = $3, is_complete = $4, charged = $5, "
                             "updated_at = $6 WHERE measurement_id = $1 AND agent_id = $2",
                             mid, agent_id, new_sent, int(new_complete), charged, now_ms)
            if charged != old_charged:
                await tx.execute("UPDATE usage SET probes = probes + $3 WHERE user_sub = $1 AND day = $2",
                                 m[0], m[1], charged - old_charged)
            status = m[2]
            if status == "in-progress":
                pending = await tx.fetchval("SELECT COUNT(*) FROM measurement_agents WHERE measurement_id = $1 "
                                            "AND is_complete = 0", mid)
                if not pending:
                    status = "complete"
            await tx.execute("UPDATE measurements SET status = $2, updated_at = $3 WHERE id = $1", mid, status, now_ms)
            return {"agent_id": agent_id, "measurement_id": mid, "expected_probes": expected,
                    "sent_probes": new_sent, "is_complete": new_complete, "measurement_status": status}

    # -- cancellation ----------------------------------------------------------------------

    async def cancellable_targets(self, mid: str, sub: str) -> list[tuple[str, str]]:
        """(agent, src_ip) of the agents still working on a measurement of this user."""
        status = await self.db.fetchval("SELECT status FROM measurements WHERE id = $1 AND user_sub = $2", mid, sub)
        if status is None:
            raise NotFound(f"measurement {mid} not found")
        if status != "in-progress":
            raise AlreadyFinal(status)
        rows = await self.db.fetch("SELECT agent_id, src_ip FROM measurement_agents WHERE measurement_id = $1 "
                                   "AND is_complete = 0 ORDER BY agent_id", mid)
        return [(r[0], r[1]) for r in rows]

    async def cancel(self, mid: str, sub: str, now_ms: int) -> int:
        """Mark cancelled and refund what the unfinished agents did not send; returns the agents cancelled."""
        async with self.db.transaction() as tx:
            m = await tx.fetchrow("SELECT day, status FROM measurements WHERE id = $1 AND user_sub = $2"
                                  + self.db.for_update, mid, sub)
            if m is None:
                raise NotFound(f"measurement {mid} not found")
            if m[1] != "in-progress":
                raise AlreadyFinal(m[1])
            rows = await tx.fetch("SELECT agent_id, expected_probes, sent_probes, charged FROM measurement_agents "
                                  "WHERE measurement_id = $1 AND is_complete = 0", mid)
            refund = 0
            for agent_id, expected, sent, charged in rows:
                now_charged = min(sent, expected)
                refund += charged - now_charged
                await tx.execute("UPDATE measurement_agents SET charged = $3, updated_at = $4 "
                                 "WHERE measurement_id = $1 AND agent_id = $2", mid, agent_id, now_charged, now_ms)
            if refund:
                await tx.execute("UPDATE usage SET probes = probes - $3 WHERE user_sub = $1 AND day = $2",
                                 sub, m[0], refund)
            await tx.execute("UPDATE measurements SET status = 'cancelled', cancelled_at = $2, updated_at = $2 "
                             "WHERE id = $1", mid, now_ms)
            return len(rows)

    # -- reading ---------------------------------------------------------------------------

    _SUMMARY = ("SELECT m.id, m.status, m.probes, m.created_at, m.updated_at, m.cancelled_at, COUNT(a.agent_id), "
                "CAST(COALESCE(SUM(a.is_complete), 0) AS BIGINT), CAST(COALESCE(SUM(a.expected_probes), 0) AS BIGINT), "
                "CAST(COALESCE(SUM(a.sent_probes), 0) AS BIGINT), CAST(COALESCE(SUM(a.charged), 0) AS BIGINT) "
                "FROM measurements m LEFT JOIN measurement_agents a ON a.measurement_id = m.id ")
    _GROUP = " GROUP BY m.id, m.status, m.probes, m.created_at, m.updated_at, m.cancelled_at"

    @staticmethod
    def _summary(row: tuple) -> dict[str, Any]:
        mid, status, probes, created, updated, cancelled_at, agents, done, expected, sent, charged = row
        return {"measurement_id": mid, "status": status, "probes": probes, "total_agents": agents,
                "completed_agents": done, "total_expected_probes": expected, "total_sent_probes": sent,
                "charged_probes": charged, "measurement_complete": status != "in-progress",
                "measurement_cancelled": status == "cancelled", "started_at": created, "last_updated": updated,
                "cancelled_at": cancelled_at}

    async def measurement(self, mid: str, sub: str) -> dict:
        row = await self.db.fetchrow(self._SUMMARY + "WHERE m.id = $1 AND m.user_sub = $2" + self._GROUP, mid, sub)
        if row is None:
            raise NotFound(f"measurement {mid} not found")
        out = self._summary(row)
        rows = await self.db.fetch("SELECT agent_id, src_ip, expected_probes, sent_probes, is_complete, charged, "
                                   "updated_at FROM measurement_agents WHERE measurement_id = $1 "
                                   "ORDER BY agent_id", mid)
        out["agents"] = [{"agent_id": r[0], "src_ip": r[1], "expected_probes": r[2], "sent_probes": r[3],
                          "is_complete": bool(r[4]), "cancelled": out["measurement_cancelled"] and not r[4],
                          "charged_probes": r[5], "updated_at": r[6]} for r in rows]
        return out

    async def list_measurements(self, sub: str, f: ListFilter) -> list[dict]:
        where, args = ["m.user_sub = $1"], [sub]

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if f.statuses:
            where.append("m.status IN (" + ", ".join(arg(s) for s in f.statuses) + ")")
        if f.since_ms is not None:
            where.append(f"m.created_at >= {arg(f.since_ms)}")
        if f.until_ms is not None:
            where.append(f"m.created_at < {arg(f.until_ms)}")
        if f.agent:
            where.append(f"EXISTS (SELECT 1 FROM measurement_agents t WHERE t.measurement_id = m.id "
                         f"AND t.agent_id = {arg(f.agent)})")
        order = "ASC" if f.reverse else "DESC"
        key = SORTS[f.sort]
        sql = (self._SUMMARY + "WHERE " + " AND ".join(where) + self._GROUP
               + f" ORDER BY {key} {order}, m.id {order} LIMIT {arg(f.limit)}")
        return [self._summary(r) for r in await self.db.fetch(sql, *args)]
