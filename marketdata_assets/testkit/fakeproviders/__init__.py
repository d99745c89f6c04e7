"""Fake REST data providers on 127.0.0.1 (recorded + generated answers, fault
injection, request log) for tests and demos without network. See ``server``."""

from marketdata_assets.testkit.fakeproviders.server import (
           DEFAULT_PORT,
           FakeProviders,
           build_app,
           main,
           run_server,
)
from marketdata_assets.testkit.fakeproviders.state import MODES, PROVIDERS, Fault, parse_fault

__all__ = ["DEFAULT_PORT", "FakeProviders", "Fault", "MODES", "PROVIDERS", "build_app", "main", "parse_fault",
           "run_server"]
