"""When each instance sent probes: the timestamp window replies are checked against.

A reply carries its probe's send time mod 65535 (0.1 ms units), from which the
capture computes the RTT. A probe really was sent at `now - rtt` only if the
instance was sending then; an agent that sent nothing in the last 6.5 s (the
timestamp's range) accepts no reply at all, whatever its fields say.

Send times are kept per 100 ms slot in a ring covering more than the
timestamp's range: the sender thread writes slot numbers, the capture threads
read them; a stale read only moves a reply across one slot boundary, which the
neighbouring-slot tolerance absorbs. No lock on either hot path.
"""

from __future__ import annotations

from nxthdr.saimiris.probe import TIMESTAMP_MODULUS

SLOT_01MS = 1000  # 100 ms
_SLOTS = TIMESTAMP_MODULUS // SLOT_01MS + 2


class SendWindow:
    def __init__(self) -> None:
        self._ring = [-1] * _SLOTS

    def mark(self, now_01ms: int) -> None:
        """A probe is being sent at `now_01ms` (Unix time in 0.1 ms)."""
        slot = now_01ms // SLOT_01MS
        self._ring[slot % _SLOTS] = slot

    def sent_at(self, now_01ms: int, rtt: int) -> bool:
        """Whether a probe was sent around `now_01ms - rtt` (one slot either side)."""
        slot = (now_01ms - rtt) // SLOT_01MS
        ring = self._ring
        return any(ring[s % _SLOTS] == s for s in (slot, slot - 1, slot + 1))
