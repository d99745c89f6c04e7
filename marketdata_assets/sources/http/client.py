"""The one HTTP path every provider goes through: timeouts, retries, rate limit,
circuit breaker, metrics, and keeping API keys out of everything we emit.

Retry policy (tenacity, exponential backoff with jitter). Retried, because a second
try can succeed: timeouts and connection errors, HTTP 429 and in-band throttling notes
(``RateLimited``), HTTP 5xx, and malformed JSON on a 2xx (a truncated body or an HTML
page from a proxy/CDN is transient in practice). A ``Retry-After`` header (seconds or an
HTTP date) on 429/5xx replaces the backoff; if it asks for more than
``RetryPolicy.retry_after_cap_s`` we stop retrying at once instead of sleeping a useless
capped wait, so fallback can move on to the next provider. Not retried: other 4xx and
in-band refusals (``ProviderError``: unknown symbol, bad parameter), rejected
credentials (``AuthenticationFailed``), ``CircuitOpen``.

Every attempt first asks the circuit breaker, then takes a rate-limit token, so retries
count against the quota like any other request and an open circuit sends nothing. A
refusal of the local limiter (``BudgetExhausted``, when the policy bounds the wait) sent
nothing: it is neither a success nor a failure for the breaker (a half-open trial slot it
held is given back) and it is not retried.

Per-call policy: ``with call_policy(policy): provider.fetch_bars(...)`` makes every request
of that call (in this thread or task) use ``policy`` instead of the client's own; the
1-second provider loop of the sidecar uses it to never wait for the limiter and never
sleep past its interval, while the batch path keeps its patient default.

Secrets: API keys are added by an innermost transport (``_AuthTransport``), after httpx
has built, logged and attached the request it knows about, so the URL in httpx's own
log lines, in its exceptions and in ``response.url`` never contains a key. Error texts
are built here from our provenance string, and response snippets are scrubbed of the
keys anyway (a provider could echo one back).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import tenacity

from marketdata_assets.errors import RateLimited, SourceUnavailable
from marketdata_assets.sources.http.circuit import CircuitBreaker
from marketdata_assets.sources.http.metrics import REQUESTS
from marketdata_assets.sources.http.ratelimit import BudgetExhausted, RateLimiter
from marketdata_assets.sources.http.retry import (
    RetryAfterBeyondCap,
    RetryPolicy,
    RetryWait,
    parse_retry_after,
)

log = logging.getLogger("marketdata.http")
_CALL_POLICY: contextvars.ContextVar[RetryPolicy | None] = contextvars.ContextVar("call_policy", default=None)
_CALL_ASOF: contextvars.ContextVar[float | None] = contextvars.ContextVar("call_asof", default=None)


@contextlib.contextmanager
def call_policy(policy: RetryPolicy, asof: float | None = None) -> Iterator[RetryPolicy]:
    """Use ``policy`` for every request made inside the block (this thread/task only).

    ``asof`` (epoch seconds) declares the caller's "now": a range ending there asks for the
    *latest* bars, which a provider may serve from a cheaper endpoint (Alpha Vantage's
    compact intraday series instead of a whole month).
    """
    tokens = _CALL_POLICY.set(policy), _CALL_ASOF.set(asof)
    try:
        yield policy
    finally:
        _CALL_POLICY.reset(tokens[0])
        _CALL_ASOF.reset(tokens[1])


def call_asof() -> float | None:
    """The ``asof`` of the enclosing :func:`call_policy` block, if any."""
    return _CALL_ASOF.get()


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (TransientError, RateLimited)) and not isinstance(exc, BudgetExhausted)

Inspect = Callable[[int, Any, str], None]  # (status, payload, provenance)
Describe = Callable[[Any], "str | None"]


class ProviderError(SourceUnavailable):
    """The provider answered coherently but refused this request (unknown symbol, bad
    parameter, plan restriction). Not retried; the provider is healthy, so the circuit
    breaker does not count it."""


class AuthenticationFailed(ProviderError):
    """Credentials missing, invalid or not entitled. Not retried, but counted by the
    breaker: every further call would fail the same way."""


class NoData(ProviderError):
    """The provider says it has nothing for the range (Twelve Data reports this as an
    error). Providers turn it into an empty frame; fallback then tries the next one."""


class NotSupported(ProviderError):
    """The provider does not offer this kind of data (e.g. bars from CoinMarketCap)."""


class TransientError(SourceUnavailable):
    """Timeout, connection failure, 5xx or malformed body: worth another try."""

    def __init__(self, source: str, why: str, *, kind: str, retry_after: float | None = None):
        self.kind = kind
        self.retry_after = retry_after
        super().__init__(source, why)


@dataclass(frozen=True)
class Reply:
    payload: Any
    status: int
    request: str  # provenance, e.g. "yahoo GET /v8/finance/chart/AAPL?interval=1m&..." (no key)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret value in ``text`` by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class _AuthTransport(httpx.BaseTransport):
    """Adds credentials to the request copy sent on the wire, not to the one httpx logs."""

    def __init__(self, inner: httpx.BaseTransport, params: Mapping[str, str], headers: Mapping[str, str]):
        self._inner = inner
        self._params = dict(params)
        self._headers = dict(headers)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self._params and not self._headers:
            return self._inner.handle_request(request)
        headers = request.headers.copy()
        headers.update(self._headers)
        keyed = httpx.Request(
            request.method,
            request.url.copy_merge_params(self._params),
            headers=headers,
            stream=request.stream,
            extensions=request.extensions,
        )
        return self._inner.handle_request(keyed)

    def set_header(self, name: str, value: str) -> None:
        self._headers[name] = value

    def close(self) -> None:
        self._inner.close()


def _outcome(exc: BaseException) -> tuple[str, bool]:
    """Metric label of a failed attempt and whether the breaker counts it."""
    if isinstance(exc, RateLimited):
        return "rate_limited", True
    if isinstance(exc, TransientError):
        return exc.kind, True
    if isinstance(exc, AuthenticationFailed):
        return "auth", True
    if isinstance(exc, NoData):
        return "no_data", False
    if isinstance(exc, ProviderError):
        return "client_error", False
    return "error", True


class HttpClient:
    """GET-and-decode-JSON for one provider, with all the resilience applied.

    ``inspect(status, payload, request)`` is the provider's hook for in-band error
    shapes (it raises the typed error; it must leave 429/5xx to the generic mapping so
    they are retried); ``describe(payload)`` extracts a readable message from an
    error body for the generic status mapping.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        timeout_s: float,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        auth_params: Mapping[str, str] | None = None,
        auth_headers: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        inspect: Inspect | None = None,
        describe: Describe | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        secrets: Iterable[str] = (),
    ):
        self.provider = provider
        self.timeout_s = timeout_s
        self.policy = policy or RetryPolicy()
        self.limiter = limiter
        self.breaker = breaker
        self._secrets = [v for v in (*(auth_params or {}).values(), *(auth_headers or {}).values(), *secrets) if v]
        self._inspect = inspect
        self._describe = describe
        self._sleep = sleep
        self._wire = _AuthTransport(transport or httpx.HTTPTransport(), auth_params or {}, auth_headers or {})
        self._http = httpx.Client(
            base_url=base_url, timeout=timeout_s, headers=dict(headers or {}), transport=self._wire
        )

    @property
    def base_url(self) -> str:
        return str(self._http.base_url).rstrip("/")

    def close(self) -> None:
        self._http.close()

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def provenance(self, path: str, params: Mapping[str, Any] | None) -> str:
        query = urlencode(sorted((k, str(v)) for k, v in (params or {}).items()), safe="/:,|")
        return self.scrub(f"{self.provider} GET {path}" + (f"?{query}" if query else ""))

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Reply:
        """GET ``base_url + path`` and return the decoded JSON, retrying what is transient."""
        request = self.provenance(path, params)
        return self._retrying(request)(self._attempt, path, dict(params or {}), request)

    def post_json(self, path: str, body: Mapping[str, Any], *, shown: Mapping[str, Any] | None = None) -> Reply:
        """POST a JSON ``body`` to ``base_url + path`` with the same resilience as ``get_json``.

        ``shown`` is what the provenance (logs, errors, stored ``request``) quotes of the
        body (default: all of it); pass a copy without credentials for a login call.
        """
        quoted = json.dumps(dict(shown if shown is not None else body), sort_keys=True, default=str)
        request = self.scrub(f"{self.provider} POST {path} {quoted}")
        return self._retrying(request)(self._attempt, path, {}, request, dict(body))

    def set_auth_header(self, name: str, value: str) -> None:
        """Send ``name: value`` on every later request (a renewed bearer token); the value is
        treated as a secret from now on (scrubbed from messages)."""
        self._wire.set_header(name, value)
        self._secrets.append(value)

    def _retrying(self, request: str) -> Callable[..., Reply]:
        """Run an attempt under the call's retry policy (``call_policy`` or the client's)."""
        policy = _CALL_POLICY.get() or self.policy
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.max_attempts)
            | RetryAfterBeyondCap(policy.retry_after_cap_s),
            wait=RetryWait(policy),
            retry=tenacity.retry_if_exception(_retryable),
            sleep=self._sleep,
            before_sleep=self._log_retry(request, policy),
            reraise=True,
        )

        def run(fn, path, params, request, body=None):
            return retrying(fn, path, params, request, policy, body)

        return run

    def get_next(self, url: str) -> Reply:
        """Follow a pagination URL (Polygon ``next_url``) on *our* base URL.

        Only its path below the base and its query are kept, so credentials are never
        sent to another host, and the key is added again by the transport.
        """
        target = httpx.URL(url)
        base = self._http.base_url
        path = target.path
        same_origin = (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)
        prefix = base.path.rstrip("/")
        if same_origin and prefix and path.startswith(prefix + "/"):
            path = path[len(prefix):]
        params = {k: v for k, v in target.params.items() if k.lower() != "apikey"}
        return self.get_json(path, params)

    def _log_retry(self, request: str, policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], None]:
        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception()
            log.warning(
                "%s: attempt %d/%d failed (%s: %s); retrying in %.2f s",
                request, state.attempt_number, policy.max_attempts,
                type(exc).__name__, getattr(exc, "why", exc), state.next_action.sleep,
            )

        return before_sleep

    def _attempt(self, path: str, params: dict[str, Any], request: str, policy: RetryPolicy,
                 body: dict | None = None) -> Reply:
        if self.breaker is not None:
            self.breaker.before_call()  # CircuitOpen: nothing sent, not retried
        if self.limiter is not None:
            try:
                self.limiter.acquire(policy.limiter_max_wait_s)
            except BudgetExhausted:  # nothing sent: not a failure, not a success, not retried
                if self.breaker is not None:
                    self.breaker.cancel_call()
                raise
        try:
            started = time.monotonic()
            reply = self._send(path, params, request, body)
        except BaseException as exc:
            outcome, is_failure = _outcome(exc)
            REQUESTS.labels(self.provider, outcome).inc()
            if self.breaker is not None:
                if is_failure:
                    self.breaker.record_failure(f"{type(exc).__name__}: {getattr(exc, 'why', '')}")
                else:
                    self.breaker.record_success()
            raise
        REQUESTS.labels(self.provider, "ok").inc()
        if self.breaker is not None:
            self.breaker.record_success()
        log.debug("%s -> HTTP %d in %.3f s", request, reply.status, time.monotonic() - started)
        return reply

    def _send(self, path: str, params: dict[str, Any], request: str, body: dict | None = None) -> Reply:
        try:
            if body is None:
                response = self._http.get(path, params=params)
            else:
                response = self._http.post(path, json=body)
        except httpx.TimeoutException as exc:
            raise TransientError(
                self.provider, f"timeout after {self.timeout_s:g} s on {request}", kind="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise TransientError(
                self.provider, f"{type(exc).__name__} on {request}", kind="transport_error"
            ) from exc
        status = response.status_code
        payload, decoded = _decode(response)
        if decoded and self._inspect is not None:
            try:
                self._inspect(status, payload, request)
            except SourceUnavailable as exc:
                self._scrub_error(exc)
                raise
        if status < 300 and decoded:
            return Reply(payload, status, request)
        message = self._message(payload, decoded)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == 429:
            raise RateLimited(self.provider, f"HTTP 429 on {request}: {message}", retry_after=retry_after)
        if status >= 500:
            raise TransientError(
                self.provider, f"HTTP {status} on {request}: {message}",
                kind="server_error", retry_after=retry_after,
            )
        if status in (401, 403):
            raise AuthenticationFailed(self.provider, f"HTTP {status} on {request}: {message}")
        if status >= 300:
            raise ProviderError(self.provider, f"HTTP {status} on {request}: {message}")
        raise TransientError(self.provider, f"malformed JSON body on {request}: {message}", kind="malformed")

    def _scrub_error(self, exc: SourceUnavailable) -> None:
        """Provider messages are quoted in errors; make sure none quotes a key back."""
        safe = self.scrub(exc.why)
        if safe != exc.why:
            exc.why = safe
            exc.args = (f"{exc.source}: {safe}",)

    def _message(self, payload: Any, decoded: bool) -> str:
        text = None
        if decoded and self._describe is not None:
            text = self._describe(payload)
        if text is None:
            text = payload if isinstance(payload, str) else json.dumps(payload)
        text = " ".join(str(text).split())
        return self.scrub(text[:200] + ("..." if len(text) > 200 else ""))


def _decode(response: httpx.Response) -> tuple[Any, bool]:
    """(JSON payload, True), or (body text, False) when it is not valid JSON."""
    text = response.text
    try:
        return json.loads(text), True
    except ValueError:
        return text, False
