"""ProjectX gateway REST client: login, contract lookup, bar history.

Everything goes through the shared ``HttpClient`` (timeouts, retries with backoff, a
circuit breaker, the client-side rate limiter, keys kept out of logs): two of them that
share one breaker, because the gateway limits ``retrieveBars`` (30 per 30 s) apart from
every other call (200 per 60 s). A 429 is retried with backoff and counts toward the
breaker like any provider's.

Auth: ``POST /api/Auth/loginKey {userName, apiKey}`` gives a bearer token valid 24 h (its
JWT ``exp`` when readable). It is renewed ``renew_before_s`` before it expires and once
on a 401; a second 401 right after a renewal is an ``AuthenticationFailed`` that says so.
The API key is only ever in the login body: never in a provenance string, a log line,
an error or metadata; the token is scrubbed the same way.

``success: false`` answers (HTTP 200) become ``GatewayError`` with the gateway's
``errorCode`` and ``errorMessage``; a refused login is ``LoginRefused``.

History: ``retrieveBars`` answers newest first, at most ``BARS_LIMIT`` bars per call, and
treats ``endTime`` as inclusive. ``fetch_bars`` pages backwards: each next page ends at the
oldest bar of the previous full page (so the join bar comes twice and is kept once) until a
page comes back short, i.e. the window's start is reached: no gap, no duplicate.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pandas as pd

from marketdata_assets.errors import ConfigError, SchemaMismatch
from marketdata_assets.model.instruments import parse_instrument
from marketdata_assets.settings import Settings
from marketdata_assets.sources.http.base import bars_frame, concat_bars, empty_bars
from marketdata_assets.sources.http.circuit import CircuitBreaker
from marketdata_assets.sources.http.client import AuthenticationFailed, HttpClient, ProviderError
from marketdata_assets.sources.http.ratelimit import RateLimiter
from marketdata_assets.sources.http.retry import RetryPolicy

log = logging.getLogger("marketdata.projectx")

PROVIDER = "projectx"
BARS_LIMIT = 20_000
BARS_RATE = (30, 30.0)      # retrieveBars: 30 calls per 30 s (gateway docs)
OTHER_RATE = (200, 60.0)    # every other call: 200 per 60 s
TOKEN_LIFETIME_S = 24 * 3600.0
UNITS = {"second": 1, "minute": 2, "hour": 3, "day": 4, "week": 5, "month": 6}
_CONTRACT_ID = re.compile(r"^CON\.F\.[A-Z]+\.[A-Z0-9]+\.(?P<month>[FGHJKMNQUVXZ])(?P<yy>\d{2})$")


class GatewayError(ProviderError):
    """The gateway understood the request and refused it (``success: false``)."""

    def __init__(self, why: str, error_code: int | None):
        self.error_code = error_code
        super().__init__(PROVIDER, why)


class LoginRefused(AuthenticationFailed):
    """``loginKey`` answered ``success: false``: user name or API key not accepted."""


@dataclass(frozen=True)
class Contract:
    id: str            # CON.F.US.EP.Z24
    name: str          # ESZ4
    instrument: str    # ESZ24
    description: str
    tick_size: float
    tick_value: float
    symbol_id: str | None


def contract_name(instrument: str) -> str:
    """``ESZ24`` → ``ESZ4``: the gateway names contracts with a one-digit year."""
    info = parse_instrument(instrument)
    if info.asset_class != "FUTURE" or info.expiry_year is None:
        raise ConfigError(f"{instrument} is not a futures contract; the ProjectX gateway serves futures only")
    return f"{info.root}{info.month_code}{info.expiry_year % 10}"


def _inspect(status: int, payload: Any, request: str) -> None:
    if status >= 300 or not isinstance(payload, dict) or payload.get("success") is not False:
        return
    code, message = payload.get("errorCode"), payload.get("errorMessage")
    why = f"gateway refused {request}: errorCode {code}" + (f": {message}" if message else "")
    if "/api/Auth/" in request:
        raise LoginRefused(PROVIDER, why)
    raise GatewayError(why, code)


def _token_expiry(token: str, issued: float) -> float:
    """The JWT's ``exp`` claim, or 24 h after issue when the token is not a readable JWT."""
    try:
        claims = token.split(".")[1]
        exp = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["exp"]
        return float(exp)
    except (IndexError, ValueError, KeyError, TypeError):
        return issued + TOKEN_LIFETIME_S


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ProjectXClient:
    """Login, contracts and bars. Keep one per process (a run, the sidecar): it holds the
    token, the rate-limit windows and the breaker."""

    def __init__(self, http: HttpClient, bars_http: HttpClient, username: str, api_key: str, *,
                 renew_before_s: float = 3600.0, clock: Callable[[], float] = time.time):
        self._http, self._bars_http = http, bars_http
        self._username, self._api_key = username, api_key
        self.renew_before_s = renew_before_s
        self._clock = clock
        self._expires_at = 0.0
        self._token: str | None = None
        self._contracts: dict[str, Contract] = {}
        self.logins = 0
        self.bars_calls = 0  # retrieveBars calls answered (pages), for run metadata

    @property
    def breaker(self) -> CircuitBreaker | None:
        return self._http.breaker

    def close(self) -> None:
        self._http.close()
        self._bars_http.close()

    def __enter__(self) -> ProjectXClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ProjectXClient {self._http.base_url} user={self._username}>"

    # -- auth ---------------------------------------------------------------------------
    def login(self) -> None:
        body = {"userName": self._username, "apiKey": self._api_key}
        reply = self._http.post_json("/api/Auth/loginKey", body, shown={"userName": self._username, "apiKey": "***"})
        token = reply.payload.get("token") if isinstance(reply.payload, dict) else None
        if not token:
            raise SchemaMismatch(f"{PROVIDER}: loginKey answered success without a token")
        issued = self._clock()
        for client in (self._http, self._bars_http):
            client.set_auth_header("Authorization", f"Bearer {token}")
        self._expires_at = _token_expiry(token, issued)
        self._token = token
        self.logins += 1
        log.info("%s: logged in as %s; token valid for %.0f s", PROVIDER, self._username,
                 self._expires_at - issued)

    def access_token(self) -> str:
        """A token valid for at least ``renew_before_s`` more (for the market hub's
        ``?access_token=``); logs in when needed. Never log it."""
        if self._token is None or self._clock() >= self._expires_at - self.renew_before_s:
            self.login()
        return self._token

    def _call(self, client: HttpClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._clock() >= self._expires_at - self.renew_before_s:
            self.login()
        try:
            reply = client.post_json(path, body)
        except LoginRefused:
            raise
        except AuthenticationFailed:
            log.info("%s: token refused on %s; logging in again", PROVIDER, path)
            self.login()
            try:
                reply = client.post_json(path, body)
            except AuthenticationFailed as exc:
                raise AuthenticationFailed(
                    PROVIDER, f"token refused again right after a fresh login ({exc.why}); check that the "
                              f"user {self._username} is entitled to market data") from exc
        if not isinstance(reply.payload, dict):
            raise SchemaMismatch(f"{PROVIDER}: {reply.request} answered {type(reply.payload).__name__}, not an object")
        return {**reply.payload, "_request": reply.request}

    # -- contracts ----------------------------------------------------------------------
    def contract(self, instrument: str) -> Contract:
        """The contract of ``instrument`` (``ESZ24`` → ``CON.F.US.EP.Z24``): the search hit whose
        name is exactly ``ESZ4`` (never a look-alike such as ``MESZ4`` or ``ESH5``)."""
        if instrument in self._contracts:
            return self._contracts[instrument]
        name = contract_name(instrument)
        info = parse_instrument(instrument)
        payload = self._call(self._http, "/api/Contract/search", {"searchText": name, "live": False})
        found = payload.get("contracts") or []
        exact = [c for c in found if isinstance(c, dict) and c.get("name") == name and _same_expiry(c, info)]
        if len(exact) != 1:
            seen = ", ".join(str(c.get("name")) for c in found if isinstance(c, dict)) or "nothing"
            raise GatewayError(f"{'no' if not exact else 'more than one'} contract named {name} for {instrument} "
                               f"(search found: {seen})", None)
        c = exact[0]
        try:
            contract = Contract(str(c["id"]), name, instrument, str(c.get("description") or ""),
                                float(c["tickSize"]), float(c["tickValue"]), c.get("symbolId"))
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaMismatch(f"{PROVIDER}: contract {name} lacks id/tickSize/tickValue") from exc
        self._contracts[instrument] = contract
        return contract

    # -- history ------------------------------------------------------------------------
    def bars_page(self, contract_id: str, start: datetime, end: datetime, *, unit: int = 2, unit_number: int = 1,
                  limit: int = BARS_LIMIT) -> pd.DataFrame:
        """One ``retrieveBars`` call: up to ``limit`` bars in ``[start, end]``, newest first on
        the wire, returned ascending in the common bar frame."""
        body = {"contractId": contract_id, "live": False, "startTime": _iso(start), "endTime": _iso(end),
                "unit": unit, "unitNumber": unit_number, "limit": limit, "includePartialBar": False}
        payload = self._call(self._bars_http, "/api/History/retrieveBars", body)
        self.bars_calls += 1
        bars = payload.get("bars") or []
        if not isinstance(bars, list):
            raise SchemaMismatch(f"{PROVIDER}: retrieveBars 'bars' is not a list ({payload['_request']})")
        try:
            ts = pd.DatetimeIndex(pd.to_datetime([b["t"] for b in bars], utc=True, format="ISO8601"))
            columns = {k: [b[f] for b in bars] for k, f in
                       (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v"))}
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaMismatch(f"{PROVIDER}: bar without t/o/h/l/c/v in {payload['_request']}") from exc
        return bars_frame(ts, columns, provider=PROVIDER, request=payload["_request"])

    def fetch_bars(self, contract_id: str, start: datetime, end: datetime, *, unit: int = 2, unit_number: int = 1,
                   limit: int = BARS_LIMIT) -> pd.DataFrame:
        """Bars starting in ``[start, end)``, paging backwards past the per-call cap (module doc)."""
        pages, upper = [], end
        while True:
            page = self.bars_page(contract_id, start, upper, unit=unit, unit_number=unit_number, limit=limit)
            pages.append(page)
            if len(page) < limit:
                break
            oldest = page["ts"].iloc[0].to_pydatetime()
            if oldest <= start:
                break
            if oldest >= upper:
                raise SchemaMismatch(f"{PROVIDER}: retrieveBars paging made no progress at {_iso(upper)}")
            upper = oldest  # endTime is inclusive: the oldest bar comes again and is kept once
        log.debug("%s: %s %s..%s in %d page(s)", PROVIDER, contract_id, _iso(start), _iso(end), len(pages))
        return concat_bars(pages, PROVIDER, start, end) if pages else empty_bars(PROVIDER)


def _same_expiry(found: dict, info) -> bool:
    """A contract id in the ``CON.F.US.EP.Z24`` form must name the instrument's month and year."""
    m = _CONTRACT_ID.match(str(found.get("id", "")))
    return m is None or (m["month"] == info.month_code and int(m["yy"]) == info.expiry_year % 100)


def build_projectx_client(settings: Settings, *, policy: RetryPolicy | None = None,
                          rates: tuple[tuple[int, float], tuple[int, float]] = (OTHER_RATE, BARS_RATE),
                          clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                          transport: httpx.BaseTransport | None = None) -> ProjectXClient:
    """The client configured from ``settings`` (``MARKETDATA_PROJECTX_*``); ``ConfigError``
    naming the variable when the user name or API key is missing."""
    if not settings.projectx_username:
        raise ConfigError("the ProjectX gateway needs a user name: set MARKETDATA_PROJECTX_USERNAME")
    if not settings.projectx_api_key:
        raise ConfigError("the ProjectX gateway needs an API key: set MARKETDATA_PROJECTX_API_KEY")
    breaker = CircuitBreaker(PROVIDER, settings.breaker_failures, settings.breaker_cooldown_s, clock=clock)
    policy = policy or RetryPolicy(max_attempts=settings.http_max_attempts)
    key = settings.projectx_api_key.get()

    def http(limit: tuple[int, float], name: str) -> HttpClient:
        return HttpClient(PROVIDER, settings.projectx_api_url, timeout_s=settings.http_timeout_s, policy=policy,
                          limiter=RateLimiter(name, limit[0], limit[1], clock=clock, sleep=sleep), breaker=breaker,
                          headers={"Accept": "application/json"}, inspect=_inspect, transport=transport,
                          sleep=sleep, secrets=(key,))

    return ProjectXClient(http(rates[0], PROVIDER), http(rates[1], f"{PROVIDER}_bars"), settings.projectx_username,
                          key)
