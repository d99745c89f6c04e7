"""The recorded real provider responses, read as package data with ``importlib.resources``:
one copy (``fakeproviders/recorded/<provider>/<file>.json``, origins in its README.md) serves
the fake providers and the parser tests alike, from a checkout or an installed wheel."""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any


def recorded_root() -> Traversable:
    """The folder of recorded responses inside the installed package."""
    return files("marketdata_assets.testkit").joinpath("fakeproviders", "recorded")


def recorded_file(relpath: str) -> Traversable:
    """``"yahoo/chart-AAPL-….json"`` → that file (a path relative to the recorded folder)."""
    return recorded_root().joinpath(*relpath.split("/"))


def load_recorded(relpath: str) -> Any:
    """The parsed JSON of one recorded response."""
    return json.loads(recorded_file(relpath).read_text("utf-8"))
