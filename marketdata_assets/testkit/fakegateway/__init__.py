"""A fake ProjectX gateway on 127.0.0.1 (REST history + market hub, fault injection) for
tests and demos without network. See ``server``."""

from marketdata_assets.testkit.fakegateway.server import (
           DEFAULT_PORT,
           FakeGateway,
           build_app,
           main,
           run_server,
)
from marketdata_assets.testkit.fakegateway.state import Fault, GatewayState, Limits, parse_fault

__all__ = ["DEFAULT_PORT", "FakeGateway", "Fault", "GatewayState", "Limits", "build_app", "main", "parse_fault",
           "run_server"]
