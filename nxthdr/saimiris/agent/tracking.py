"""Per-measurement progress and cancellations (asyncio side; the sender threads only read `is_cancelled`)."""

from __future__ import annotations

import collections
from typing import Callable

from nxthdr.saimiris.agent.sender import Job

Reporter = Callable[[str, int, bool], None]


class Measurements:
    def __init__(self, report: Reporter | None = None, remember: int = 10000) -> None:
        self.report = report or (lambda mid, sent, complete: None)
        self.remember = remember
        self.sent: dict[str, int] = {}
        self._cancelled: collections.OrderedDict[str, None] = collections.OrderedDict()

    def is_cancelled(self, mid: str) -> bool:
        return mid in self._cancelled

    def cancel(self, mid: str) -> None:
        """Remembered (bounded) so that records of this measurement still queued or arriving later are dropped."""
        self._cancelled[mid] = None
        self._cancelled.move_to_end(mid)
        while len(self._cancelled) > self.remember:
            self._cancelled.popitem(last=False)
        self.report(mid, self.sent.get(mid, 0), True)

    def done(self, mid: str, sent: int, end: bool) -> None:
        """A record of `mid` is finished (sent, dropped or cancelled): report the cumulative count."""
        total = self.sent.get(mid, 0) + sent
        complete = end or self.is_cancelled(mid)
        if complete:
            self.sent.pop(mid, None)
        else:
            self.sent[mid] = total
        self.report(mid, total, complete)

    def job_done(self, job: Job) -> None:
        self.done(job.measurement_id, job.sent, job.end_of_measurement or job.cancelled)
