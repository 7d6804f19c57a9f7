"""A progress bar for long work (replays, benchmarks, migrations), on stderr.

On a terminal it redraws one line; elsewhere (journald, CI logs) it prints a
plain line every `interval` seconds so logs stay readable.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int | None, what: str = "", unit: str = "", interval: float = 2.0, stream=None) -> None:
        self.total = total
        self.what = what
        self.unit = unit
        self.done = 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 0.1 if self.tty else interval
        self.start = time.monotonic()
        self._last = 0.0

    def update(self, n: int = 1, **extra) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self._draw(now, extra)

    def _draw(self, now: float, extra: dict, final: bool = False) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        info = " ".join(f"{k}={v}" for k, v in extra.items())
        if self.total:
            frac = min(self.done / self.total, 1.0)
            width = 30
            bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
            eta = (self.total - self.done) / rate if rate > 0 else 0
            line = (f"{self.what} [{bar}] {frac * 100:5.1f}% {self.done}/{self.total} {self.unit} "
                    f"{rate:,.0f} {self.unit}/s" + ("" if final else f" eta {eta:.0f}s"))
        else:
            line = f"{self.what} {self.done} {self.unit} {rate:,.0f} {self.unit}/s"
        if info:
            line += " " + info
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self, **extra) -> None:
        self._draw(time.monotonic(), extra, final=True)
