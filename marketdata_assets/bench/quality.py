"""What the quality stage costs: validating 1M ticks with and without it.

"Without" is the partition step as it was before the quality layer: the basic row rules
(``validation.tick_rules``) and the kept/rejected split. "With" is ``assess_ticks`` with
the tick-grid rule, the bad-tick detector, the scores and the Great Expectations suite
(runner built beforehand: the ~3 s import is paid once per process, not per partition).
The figure is the difference, against the goal of at most 2 s added per 1M ticks.
"""

from __future__ import annotations

import pandas as pd

from marketdata_assets.bench.core import Result, best_of
from marketdata_assets.bench.sierra import DAY, INSTRUMENT, synthetic_records, ticks_frame
from marketdata_assets.model.contracts import grid_tick_size
from marketdata_assets.model.sessions import market_for_instrument
from marketdata_assets.transforms.quality import assess_ticks
from marketdata_assets.transforms.validation import split_by_rules, tick_rules

GOAL_S = 2.0


def run(n) -> list[Result]:
    from marketdata_assets.transforms.expectations import gx_runner

    count = n(1_000_000)
    market = market_for_instrument(INSTRUMENT)
    ticks = ticks_frame(synthetic_records(count)).drop(columns=["quality_score"])
    ticks["trading_date"] = pd.Timestamp(DAY)
    tick_size = grid_tick_size(INSTRUMENT)
    runner = gx_runner()

    def basic():
        split_by_rules(ticks, tick_rules(ticks, market, str(DAY)))

    def quality():
        report = assess_ticks(ticks, market, DAY, tick_size, run_gx=True, runner=runner)
        assert report.quarantined.empty and not report.failed_blocking

    quality()   # warm: GX caches its expectation classes on first use
    basic_s = best_of(basic)
    quality_s = best_of(quality)
    rules_s = best_of(lambda: assess_ticks(ticks, market, DAY, tick_size))
    added = max(quality_s - basic_s, 1e-9)
    label = f"{count:,} ticks" if count != 1_000_000 else "1M ticks"
    return [
        Result(f"validation cost, {label}", round(added, 3), "s", "goal", GOAL_S, round(GOAL_S / added, 3),
               "<= 2 s added"),
        Result(f"quality rules + bad ticks (no GX), {label}", round(rules_s, 3), "s", "basic row rules",
               round(basic_s, 3), round(basic_s / rules_s, 3)),
        Result(f"quality stage incl. GX, {label}", round(quality_s, 3), "s", "basic row rules",
               round(basic_s, 3), round(basic_s / quality_s, 3)),
    ]
