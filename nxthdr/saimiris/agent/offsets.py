"""Which offsets may be committed: only up to the first record whose probes are not all sent (sans-I/O).

Records are handed to the instance threads in order but finish out of order
(two instances, records not for us finishing at once). Committing a later
offset would lose the earlier, unsent record at a restart, so the committable
position of a partition is the lowest offset still pending (or one past the
highest seen when nothing is pending).
"""

from __future__ import annotations

import heapq


class PartitionOffsets:
    def __init__(self) -> None:
        self._pending: set[int] = set()
        self._heap: list[int] = []
        self._next = None  # one past the highest offset seen
        self.committed: int | None = None

    def add(self, offset: int) -> None:
        self._pending.add(offset)
        heapq.heappush(self._heap, offset)
        if self._next is None or offset + 1 > self._next:
            self._next = offset + 1

    def done(self, offset: int) -> None:
        self._pending.discard(offset)

    def committable(self) -> int | None:
        """The offset to commit (Kafka's "next to read") when it moved since the last commit, else None."""
        while self._heap and self._heap[0] not in self._pending:
            heapq.heappop(self._heap)
        position = self._heap[0] if self._heap else self._next
        if position is None or position == self.committed:
            return None
        return position

    @property
    def pending(self) -> int:
        return len(self._pending)


class OffsetTracker:
    """PartitionOffsets per (topic, partition)."""

    def __init__(self) -> None:
        self.partitions: dict = {}

    def add(self, tp, offset: int) -> None:
        self.partitions.setdefault(tp, PartitionOffsets()).add(offset)

    def done(self, tp, offset: int) -> None:
        p = self.partitions.get(tp)
        if p is not None:  # a partition revoked meanwhile is simply forgotten
            p.done(offset)

    def committable(self) -> dict:
        out = {}
        for tp, p in self.partitions.items():
            pos = p.committable()
            if pos is not None:
                out[tp] = pos
        return out

    def committed(self, positions: dict) -> None:
        for tp, pos in positions.items():
            p = self.partitions.get(tp)
            if p is not None:
                p.committed = pos

    def forget(self, tps) -> None:
        for tp in tps:
            self.partitions.pop(tp, None)

    @property
    def pending(self) -> int:
        return sum(p.pending for p in self.partitions.values())
