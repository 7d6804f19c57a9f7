"""Structured logs: one line per event, JSON or `key=value` text, on stderr.

Fields are passed as keyword arguments to `event()`; journald and Loki read the
JSON form without a parser stage. Hot paths use `RateLimited` so one broken
router cannot flood the journal.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_FIELDS = "nx_fields"


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        parts = [ts, record.levelname.lower().ljust(7), record.name + ":", record.getMessage()]
        for k, v in getattr(record, _FIELDS, {}).items():
            s = str(v)
            parts.append(f"{k}={json.dumps(s) if (' ' in s or not s) else s}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup(verbosity: int = 0, fmt: str = "text") -> None:
    """verbosity: 0 info, >0 debug, -1 warning, <-1 error."""
    level = logging.INFO
    if verbosity > 0:
        level = logging.DEBUG
    elif verbosity == -1:
        level = logging.WARNING
    elif verbosity < -1:
        level = logging.ERROR
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _TextFormatter())
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    # aiokafka logs every failed connection attempt at error level; we report those ourselves.
    logging.getLogger("aiokafka").setLevel(max(level, logging.CRITICAL if level > logging.DEBUG else level))


def event(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    if logger.isEnabledFor(level):
        logger.log(level, msg, extra={_FIELDS: fields})


class RateLimited:
    """At most `burst` lines per `interval` seconds per key; counts what it suppressed."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0, burst: int = 5) -> None:
        self.logger = logger
        self.interval = interval
        self.burst = burst
        self._windows: dict[Any, list] = {}

    def event(self, key: Any, level: int, msg: str, **fields: Any) -> None:
        now = time.monotonic()
        w = self._windows.get(key)
        if w is None or now - w[0] >= self.interval:
            if w is not None and w[2]:
                fields = {**fields, "suppressed": w[2]}
            if len(self._windows) > 10000:
                self._windows.clear()
            self._windows[key] = [now, 1, 0]
            event(self.logger, level, msg, **fields)
        elif w[1] < self.burst:
            w[1] += 1
            event(self.logger, level, msg, **fields)
        else:
            w[2] += 1
