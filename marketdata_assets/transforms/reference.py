"""Reference data checked and shaped: the versioned documents (``reference/markets.json``,
``reference/providers.json``) in, every problem found or one frame per reference table out.
Pure: the documents are read and the tables written by ``pipelines/reference.py``.
"""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from marketdata_assets.errors import ConfigError
from marketdata_assets.sources.http.base import METADATA_KEYS

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_CREDENTIAL_ENV = re.compile(r"^[A-Z][A-Z0-9_]*_(API_KEY|KEY|TOKEN|SECRET|PASSWORD)$")


def validate_reference(markets_doc: dict, providers_doc: dict) -> None:
    """Check the whole reference set; raise ``ConfigError`` listing every problem found."""
    problems: list[str] = []
    classes = [c.get("code") for c in markets_doc.get("asset_classes", [])]
    class_set = set(classes)
    providers = [p.get("name") for p in providers_doc.get("providers", [])]
    provider_set = set(providers)
    market_codes = [m.get("code") for m in markets_doc.get("markets", [])]
    for what, names in (("asset class", classes), ("market", market_codes), ("provider", providers)):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"duplicate {what} codes {dupes}")
    for m in markets_doc.get("markets", []):
        code = m.get("code")
        if m.get("asset_class") not in class_set:
            problems.append(f"market {code}: asset class {m.get('asset_class')!r} is not in asset_classes")
        if not m.get("sessions"):
            problems.append(f"market {code}: has no sessions")
        for s in m.get("sessions", []):
            if not (_HHMM.fullmatch(str(s.get("start"))) and _HHMM.fullmatch(str(s.get("end")))):
                problems.append(f"market {code}: session {s.get('name')!r} needs HH:MM start and end")
        try:
            ZoneInfo(str(m.get("timezone")))
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"market {code}: unknown timezone {m.get('timezone')!r}")
        if not set(m.get("weekdays", [])) <= set(range(7)) or not m.get("weekdays"):
            problems.append(f"market {code}: weekdays must be a non-empty subset of 0..6")
        for h in m.get("holidays", []):
            try:
                date.fromisoformat(h)
            except (TypeError, ValueError):
                problems.append(f"market {code}: holiday {h!r} is not an ISO date")
        for p in m.get("data_providers", []):
            if p not in provider_set:
                problems.append(f"market {code}: data provider {p!r} is not in providers.json")
    for symbol, market in markets_doc.get("instrument_overrides", {}).items():
        if market not in market_codes:
            problems.append(f"instrument override {symbol}: unknown market {market!r}")
    for token, market in markets_doc.get("venue_aliases", {}).items():
        if market not in market_codes:
            problems.append(f"venue alias {token}: unknown market {market!r}")
    for symbol, cls in markets_doc.get("asset_class_overrides", {}).items():
        if cls not in class_set:
            problems.append(f"asset class override {symbol}: unknown asset class {cls!r}")
    problems += _provider_problems(providers_doc, class_set)
    if problems:
        raise ConfigError(f"reference data (markets {markets_doc.get('version')}, providers "
                          f"{providers_doc.get('version')}) is invalid, nothing written: " + "; ".join(problems))


def _provider_problems(doc: dict, class_set: set[str]) -> list[str]:
    problems = []
    for p in doc.get("providers", []):
        name = p.get("name")
        env = p.get("credential_env")
        if env is not None and not _CREDENTIAL_ENV.fullmatch(str(env)):
            problems.append(f"provider {name}: credential_env must be a variable NAME such as X_API_KEY")
        if not isinstance(p.get("rate_limit"), int) or p["rate_limit"] < 1 or not p.get("rate_window_s"):
            problems.append(f"provider {name}: rate_limit and rate_window_s must be positive")
        for cls in p.get("metadata_asset_classes", []):
            if cls not in class_set:
                problems.append(f"provider {name}: unknown asset class {cls!r}")
        if p.get("metadata_asset_classes") and p.get("metadata_priority") is None:
            problems.append(f"provider {name}: serves metadata but has no metadata_priority")
    for kind in ("priority", "metadata_priority"):
        ranks = [p[kind] for p in doc.get("providers", []) if p.get(kind) is not None]
        if len(ranks) != len(set(ranks)):
            problems.append(f"providers: duplicate {kind} values {sorted(ranks)}")
    fields, na = doc.get("enrichment_fields", {}), set(doc.get("enrichment_not_applicable", []))
    for cls, wanted in fields.items():
        if cls not in class_set:
            problems.append(f"enrichment_fields: unknown asset class {cls!r}")
        if set(wanted) - set(METADATA_KEYS):
            problems.append(f"enrichment_fields {cls}: unknown fields {sorted(set(wanted) - set(METADATA_KEYS))}")
        if not any(cls in p.get("metadata_asset_classes", []) for p in doc.get("providers", [])):
            problems.append(f"enrichment_fields {cls}: no provider serves metadata for it")
    unclassified = sorted(class_set - set(fields) - na)
    if unclassified:
        problems.append(f"asset classes {unclassified} are neither in enrichment_fields nor enrichment_not_applicable")
    if set(fields) & na:
        problems.append(f"asset classes {sorted(set(fields) & na)} are both enrichable and not applicable")
    if na - class_set:
        problems.append(f"enrichment_not_applicable: unknown asset classes {sorted(na - class_set)}")
    return problems


def reference_frames(markets_doc: dict, providers_doc: dict) -> dict[str, pd.DataFrame]:
    """One frame per reference table, each row carrying the version of the file it came from."""
    version, pversion = markets_doc["version"], providers_doc["version"]
    mk = markets_doc["markets"]
    listed = {p["name"]: sorted(m["code"] for m in mk if p["name"] in m.get("data_providers", []))
              for p in providers_doc["providers"]}
    return {
        "asset_classes": pd.DataFrame(markets_doc["asset_classes"]).assign(version=version),
        "markets": pd.DataFrame([{
            "code": m["code"], "name": m["name"], "asset_class": m["asset_class"], "timezone": m["timezone"],
            "day_start": m["day_start"], "weekdays": ",".join(map(str, m["weekdays"])), "version": version,
        } for m in mk]),
        "market_sessions": pd.DataFrame([{
            "market": m["code"], "name": s["name"], "start_local": s["start"], "end_local": s["end"],
            "kind": s.get("kind", "regular"), "version": version,
        } for m in mk for s in m["sessions"]], columns=["market", "name", "start_local", "end_local", "kind",
                                                         "version"]),
        "market_holidays": pd.DataFrame([{"market": m["code"], "holiday": h, "version": version}
                                         for m in mk for h in m["holidays"]],
                                        columns=["market", "holiday", "version"]),
        "data_providers": pd.DataFrame([{
            "name": p["name"], "priority": p.get("priority"), "metadata_priority": p.get("metadata_priority"),
            "base_url": p["base_url"], "rate_limit": int(p["rate_limit"]), "rate_window_s": float(p["rate_window_s"]),
            "credential_env": p.get("credential_env"),
            "metadata_asset_classes": ",".join(p.get("metadata_asset_classes", [])),
            "markets": ",".join(listed[p["name"]]), "version": pversion,
        } for p in providers_doc["providers"]]).astype({"priority": "Int64", "metadata_priority": "Int64"}),
    }
