"""Declarative automation that reaches every partition, not only the latest date.

``AutomationCondition.eager()`` starts with ``in_latest_time_window()``: on the ``date``
dimension it only ever considers the newest trading date, so a historical partition that
a sensor, a backfill or a manual run updates stops after the first asset (DESIGN §7).
``follows_updates()`` is ``eager()`` without that restriction and without
``newly_missing()`` (which, over every date since the partition start, would request every
hole at the first tick): a partition is requested when a dependency's same partition was
updated since it was last requested or materialized, none of its dependencies is missing
or in progress, and it is not in progress itself. A run that materializes a dependency and
the asset together (the ``sierra_chain`` job) counts as handled and requests nothing more.
"""

from __future__ import annotations

import dagster as dg

A = dg.AutomationCondition


def follows_updates() -> dg.AutomationCondition:
    """``eager()`` for every partition of a partitioned asset (see the module docstring)."""
    return (
        A.any_deps_updated().since_last_handled()
        & ~A.any_deps_missing()
        & ~A.any_deps_in_progress()
        & ~A.in_progress()
    ).with_label("follows_updates")


def follows_updates_from_any_origin() -> dg.AutomationCondition:
    """``follows_updates()`` for an asset fed by two origins (Sierra files *or* the live
    journal; REST providers *or* the ProjectX gateway): a partition waits only while *every*
    dependency is missing, so a date only one origin serves is not held back by the other."""
    missing = A.missing() & ~A.will_be_requested()
    return (
        A.any_deps_updated().since_last_handled()
        & ~A.all_deps_match(missing).with_label("all_deps_missing")
        & ~A.any_deps_in_progress()
        & ~A.in_progress()
    ).with_label("follows_updates_from_any_origin")
