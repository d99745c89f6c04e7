from __future__ import annotations

import pytest

from .helpers import load_sample


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    """instrument → (market, ticks, bars) of the clean sample files."""
    return load_sample(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="session")
def gx():
    """One Great Expectations runner (ephemeral context) for the whole session."""
    from marketdata_assets.transforms.expectations import gx_runner

    return gx_runner()
