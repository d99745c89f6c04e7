"""Asset checks: one per quality rule on the validation assets, and freshness.

Rule checks are declared on the assets (`check_specs`) and evaluated inside their
materialization from :class:`transforms.verdicts.Verdict`s; they are partitioned like the
asset (`partitions_def` on the spec, a Dagster preview), so the UI and the automation
see each partition's own result. Blocking specs fail with ERROR severity only: Dagster
then fails the step after recording the materialization, skips downstream steps of the
same run, and `eager_unless_blocked` keeps automation from running them later.

Freshness is one unpartitioned check per intraday asset, evaluated every five minutes by
`freshness_sensor` (`sensors.py`) and reported as runless check evaluations: no run is
launched for it. It can still be run by hand (config `as_of`).
"""



import time
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import numpy as np
from pydantic import Field

from marketdata_assets.defs.automation import dependency_newer
from marketdata_assets.defs.metadata import value as metadata_value
from marketdata_assets.defs.partitions import instrument_partitions, market_partitions, valid_instruments
from marketdata_assets.defs.resources import FreshnessResource, SierraResource
from marketdata_assets.model.sessions import Market
from marketdata_assets.transforms.expectations import BLOCKING, EXPECTATION_TABLE
from marketdata_assets.transforms.verdicts import EXTRA_CHECKS, Verdict

FRESHNESS = "freshness"
FRESHNESS_ASSETS = ("validated_ticks", "ohlc_bars")
# left out of the chain jobs: freshness is the sensor's, not part of building a partition
FRESHNESS_SELECTION = dg.AssetSelection.checks(*(dg.AssetCheckKey(dg.AssetKey(a), FRESHNESS) for a in FRESHNESS_ASSETS))
ACTIVE_DAYS = 7   # an instrument with no partition materialized in this many days is not monitored


# -- rule checks ----------------------------------------------------------------------------
def rule_check_specs(asset: str, rules: list[str]) -> list[dg.AssetCheckSpec]:
    """One spec per rule (blocking as the expectation table says) plus the extra checks."""
    table = {**{r: EXPECTATION_TABLE[r] for r in rules}, **EXTRA_CHECKS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # partitions_def on a check spec is a preview
        return [dg.AssetCheckSpec(name, asset=asset, blocking=sev == BLOCKING, partitions_def=market_partitions,
                                  description=why, metadata={"severity": sev})
                for name, (sev, why) in table.items()]


def check_results(verdicts: list[Verdict]) -> list[dg.AssetCheckResult]:
    """Pass → passed; warn → failed with WARN; fail → failed with ERROR (blocks if the spec does)."""
    return [dg.AssetCheckResult(
        check_name=v.name, passed=v.passed, description=v.description,
        severity=dg.AssetCheckSeverity.ERROR if v.status == "fail" else dg.AssetCheckSeverity.WARN,
        metadata={k: metadata_value(x) for k, x in v.metadata.items()},
    ) for v in verdicts]


def eager_unless_blocked() -> dg.AutomationCondition:
    """`follows_updates()` (`eager()` for every date, `defs/automation.py`), except that
    (1) a partition waits while the latest materialization of a dependency's partition has a
    failed blocking check (plain `eager()` ignores checks and would build on it in the next
    tick), and (2) it runs when at least one dependency exists or is requested in the same tick
    (`eager()` waits for all: a Sierra-only instrument never gets provider bars), so the
    chain below an updated partition is requested together, as one run."""
    a = dg.AutomationCondition
    return (
        a.any_deps_updated().since_last_handled()
        & ~a.all_deps_match(a.missing() & ~a.will_be_requested())
        & ~a.any_deps_in_progress()
        & ~a.in_progress()
        & ~a.any_deps_match(a.any_checks_match(a.check_failed(), blocking_only=True))
        & dependency_newer()
    ).with_label("eager_unless_blocked")


# -- freshness ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PartitionFreshness:
    instrument: str
    trading_date: date
    state: str                      # fresh | stale | closed (market not open now) | inactive
    last_update: float | None       # Unix seconds of the partition's latest materialization
    minutes_since: float | None     # since that update or the session open, whichever is later


def _latest(instance: dg.DagsterInstance, asset: str, keys: list[str], before: float) -> dg.EventLogRecord | None:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=keys, before_timestamp=before),
        limit=1).records
    return records[0] if records else None


def partition_freshness(instance: dg.DagsterInstance, asset: str, instrument: str, market: Market,
                        now: float, minutes: int) -> PartitionFreshness:
    """How fresh the partition of `instrument`'s current trading date is at `now` (Unix s).

    While the market is open, the partition is stale when neither it was materialized nor
    the current session opened within the last `minutes`. Materializations after
    `now` are ignored, so `now` in the past answers "was it fresh then?"."""
    now_us = np.array([int(now * 1_000_000)], dtype=np.int64)
    today = date.fromisoformat(str(market.trading_dates(now_us)[0]))
    if not market.in_session(now_us)[0]:
        return PartitionFreshness(instrument, today, "closed", None, None)
    last = _latest(instance, asset, [f"{today}|{instrument}"], now)
    if last is None:
        recent = [f"{today - timedelta(days=k)}|{instrument}" for k in range(1, ACTIVE_DAYS + 1)]
        if _latest(instance, asset, recent, now) is None:
            return PartitionFreshness(instrument, today, "inactive", None, None)
    opened = max(lo for lo, hi in market.session_bounds_us(today) if lo <= now_us[0] < hi) / 1e6
    since = max(opened, last.timestamp if last else opened)
    age = (now - since) / 60.0
    return PartitionFreshness(instrument, today, "stale" if age > minutes else "fresh",
                              last.timestamp if last else None, round(age, 2))


class FreshnessConfig(dg.Config):
    as_of: str = Field(default="", description=(
        "ISO UTC time to evaluate at instead of now, ignoring later materializations "
        "(audits: 'was it fresh at 14:00?'). Empty: now."))


def _as_of(text: str) -> float:
    at = datetime.fromisoformat(text)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _iso(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, tz=UTC).isoformat()


def freshness_evaluation(asset: str, states: list[PartitionFreshness], minutes: int,
                         now: float) -> dg.AssetCheckEvaluation:
    stale = [s for s in states if s.state == "stale"]
    rows = ["| instrument | trading date | state | last update | minutes since |", "|---|---|---|---|---|"]
    rows += [f"| {s.instrument} | {s.trading_date} | {s.state} | {_iso(s.last_update)} | "
             f"{'-' if s.minutes_since is None else s.minutes_since} |" for s in states]
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(asset), check_name=FRESHNESS, passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"stale for more than {minutes} min while the market is open: "
                     + ", ".join(f"{s.instrument} {s.trading_date}" for s in stale)) if stale
        else f"no open market's current partition older than {minutes} min",
        metadata={"stale": dg.MetadataValue.json([s.instrument for s in stale]),
                  "stale_count": dg.MetadataValue.int(len(stale)),
                  "freshness_minutes": dg.MetadataValue.int(minutes),
                  "as_of": dg.MetadataValue.timestamp(now),
                  "partitions": dg.MetadataValue.md("\n".join(rows))})


def freshness_evaluations(instance: dg.DagsterInstance, sierra: SierraResource, minutes: int, now: float,
                          assets=FRESHNESS_ASSETS, log=None) -> list[dg.AssetCheckEvaluation]:
    """The `freshness` check of each of `assets` at `now` (Unix s), over every valid instrument
    (a key added from the UI is not validated by Dagster: an invalid one is logged and left out)."""
    instruments = valid_instruments(instance.get_dynamic_partitions(instrument_partitions.name), log)
    return [freshness_evaluation(asset, [partition_freshness(instance, asset, inst, sierra.market(inst), now, minutes)
                                         for inst in instruments], minutes, now)
            for asset in assets]


@dg.multi_asset_check(
    specs=[dg.AssetCheckSpec(FRESHNESS, asset=asset, description=(
        "The current trading date's partition was updated within the freshness threshold while the "
        "instrument's market is open (WARN otherwise). Evaluated every 5 minutes by freshness_sensor, "
        "without a run; run it by hand with as_of to audit a past moment."))
        for asset in FRESHNESS_ASSETS],
    can_subset=True,
)
def freshness_checks(context: dg.AssetCheckExecutionContext, config: FreshnessConfig,
                     sierra: SierraResource, freshness: FreshnessResource):
    """For every instrument: the latest materialization of its current trading date's
    partition, against the freshness threshold while its market is open."""
    now = _as_of(config.as_of) if config.as_of else time.time()
    assets = [key.asset_key.path[-1] for key in context.selected_asset_check_keys]
    for e in freshness_evaluations(context.instance, sierra, freshness.threshold(), now, assets,
                                   log=context.log):
        yield dg.AssetCheckResult(asset_key=e.asset_key, check_name=e.check_name, passed=e.passed,
                                  severity=e.severity, description=e.description, metadata=e.metadata)
