"""Instrument names: validation and parsing.

Names come from file names and APIs, so they are validated before they touch a path, a
Redis key, a partition key or a query. A name is 1–40 characters of ``A-Z a-z 0-9 . _ -``
starting with a letter or digit (``ESZ24``, ``ESZ24-CME``, ``ESM25_FUT_CME``, ``US100.e``).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from marketdata_assets.errors import InvalidInstrument

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")  # fullmatch: `$` would let a trailing "\n" in
MONTH_CODES = "FGHJKMNQUVXZ"  # Jan..Dec
_FUTURE = re.compile(
    r"^(?P<root>[A-Z0-9]{1,3}?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{1,2})(?:[-_.](?P<suffix>[A-Za-z0-9_.-]+))?$"
)
_VENUE_SUFFIX = re.compile(r"[-_.](?P<venue>[A-Z]{2,8})$")

# Roots of CME Group futures and the exchange that lists them.
FUTURE_ROOTS: dict[str, str] = {
    **dict.fromkeys(["ES", "NQ", "RTY", "MES", "MNQ", "M2K", "6E", "6J", "6B", "6A", "6C", "6S",
                     "6N", "6M", "LE", "HE", "GF", "BTC", "ETH", "MBT", "SR3"], "CME"),
    **dict.fromkeys(["YM", "MYM", "ZN", "ZB", "ZF", "ZT", "UB", "ZC", "ZS", "ZW", "ZM", "ZL"], "CBOT"),
    **dict.fromkeys(["CL", "MCL", "NG", "RB", "HO", "QM", "PL", "PA"], "NYMEX"),
    **dict.fromkeys(["GC", "MGC", "SI", "SIL", "HG", "QO"], "COMEX"),
}
FX_CURRENCIES = {"USD", "EUR", "GBP", "JPY", "CHF", "AUD", "NZD", "CAD", "SEK", "NOK", "TRY",
                 "MXN", "ZAR", "XAU", "XAG", "HKD", "SGD", "CNH", "PLN", "DKK"}
CRYPTO_BASES = {"BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "LTC", "BNB", "DOT", "AVAX"}
CRYPTO_QUOTES = ("USDT", "USDC", "USD", "EUR", "BTC")


def validate_instrument(name: object) -> str:
    """Return ``name`` if it is a safe instrument name, else raise :class:`InvalidInstrument`."""
    if not isinstance(name, str):
        raise InvalidInstrument(repr(name), "not a string")
    if not _NAME.fullmatch(name):
        raise InvalidInstrument(name, "must be 1-40 of A-Z a-z 0-9 . _ - starting with a letter or digit")
    if ".." in name:
        raise InvalidInstrument(name, "must not contain '..'")
    return name


@dataclass(frozen=True)
class InstrumentInfo:
    symbol: str
    asset_class: str          # FUTURE, FOREX, CRYPTO, STOCK
    market: str               # market code in the reference data (CME, NYSE, FOREX_MARKET, ...)
    root: str | None = None
    month_code: str | None = None
    expiry_year: int | None = None
    expiry_month: int | None = None
    base: str | None = None
    quote: str | None = None
    venue: str | None = None

    @property
    def expiry(self) -> date | None:
        """Third Friday of the contract month: the CME equity-index convention, an estimate for others."""
        if self.expiry_year is None or self.expiry_month is None:
            return None
        fridays = [d for d in calendar.Calendar().itermonthdates(self.expiry_year, self.expiry_month)
                   if d.weekday() == 4 and d.month == self.expiry_month]
        return fridays[2]


def _year(two_digits: str, today: date | None = None) -> int:
    y = int(two_digits)
    if len(two_digits) == 2:
        return 2000 + y
    # one digit: the next year ending in that digit, counting from this decade
    base = (today or date.today()).year
    decade = base - base % 10
    return decade + y if decade + y >= base - 1 else decade + 10 + y


def parse_instrument(name: str, overrides: dict[str, str] | None = None) -> InstrumentInfo:
    """Parse a symbol into its attributes and market.

    Futures ``ESZ24`` / ``ESZ24-CME`` / ``ESM25_FUT_CME`` map their root to a CME Group
    exchange; six-letter currency pairs to ``FOREX_MARKET``; crypto pairs to ``CRYPTO``;
    anything else is a stock on ``NASDAQ``. ``overrides`` (symbol → market, from
    ``MARKETDATA_INSTRUMENT_MARKETS`` and the package's override table) win over all rules.
    """
    validate_instrument(name)
    upper = name.upper()
    venue_match = _VENUE_SUFFIX.search(name)
    venue = venue_match.group("venue") if venue_match else None
    info: InstrumentInfo
    fut = _FUTURE.fullmatch(upper)
    if fut and fut.group("root") in FUTURE_ROOTS:
        root = fut.group("root")
        info = InstrumentInfo(
            symbol=name, asset_class="FUTURE", market=FUTURE_ROOTS[root], root=root,
            month_code=fut.group("month"), expiry_year=_year(fut.group("year")),
            expiry_month=MONTH_CODES.index(fut.group("month")) + 1, venue=venue or FUTURE_ROOTS[root],
        )
    else:
        stem = re.split(r"[-_.]", upper)[0]
        crypto = next((q for q in CRYPTO_QUOTES if stem.endswith(q) and stem[: -len(q)] in CRYPTO_BASES), None)
        if len(stem) == 6 and stem[:3] in FX_CURRENCIES and stem[3:] in FX_CURRENCIES:
            info = InstrumentInfo(symbol=name, asset_class="FOREX", market="FOREX_MARKET",
                                  base=stem[:3], quote=stem[3:], venue=venue)
        elif crypto:
            info = InstrumentInfo(symbol=name, asset_class="CRYPTO", market="BINANCE",
                                  base=stem[: -len(crypto)], quote=crypto, venue=venue)
        else:
            info = InstrumentInfo(symbol=name, asset_class="STOCK", market="NASDAQ", venue=venue)
    for key in (name, upper, upper.split("-")[0].split("_")[0]):
        market = (overrides or {}).get(key.upper())
        if market:
            return InstrumentInfo(**{**info.__dict__, "market": market})
    return info
