"""Locate the data files shipped with the package (Cap'n Proto and config schemas).

Installed, they live in the `nxthdr.schemas` package; from a source checkout they
are the repository's top-level `schemas/` directory.
"""

from __future__ import annotations

import functools
from pathlib import Path


@functools.cache
def schemas_dir() -> Path:
    # A source checkout's own schemas/ wins: with several checkouts of the
    # project side by side, the one being run must read its own schemas,
    # whichever checkout the package happens to be installed from.
    candidate = Path(__file__).resolve().parent.parent / "schemas"
    if (candidate / "update.capnp").is_file():
        return candidate
    try:
        from importlib.resources import files

        candidate = Path(str(files("nxthdr.schemas")))
        if (candidate / "update.capnp").is_file():
            return candidate
    except (ModuleNotFoundError, TypeError):
        pass
    raise FileNotFoundError("cannot find the nxthdr schemas directory (update.capnp)")


def schema_path(name: str) -> Path:
    return schemas_dir() / name
