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

Each condition ends with ``dependency_newer()`` (:class:`DependencyNewer`): a dependency's
partition was materialized after the partition's own latest materialization, read live
after ``in_progress``. Dagster reads ``newly_updated`` from asset records fetched at the
start of a tick but ``in_progress`` from the runs at evaluation time; on a busy machine a
chain run that finished in between looked like "dependency updated, nothing in progress,
asset not updated" and got a second ohlc_bars + indicators run that did nothing new. The
automation sensor evaluates in the code server (``use_user_code_server``) for this class.
"""

from __future__ import annotations

import dagster as dg

A = dg.AutomationCondition


def _latest_storage_id(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str) -> int:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
    return records[0].storage_id if records else -1


class DependencyNewer(dg.AutomationCondition):
    """True for a partition when a dependency of the same partitioning has a materialization
    of that partition newer than the partition's own latest one (or the partition has none),
    read from the instance when evaluated. Put it last in an ``&``: it costs a few queries
    per partition still true there."""

    @property
    def requires_cursor(self) -> bool:
        return False

    @property
    def name(self) -> str:
        return "dependency_newer"

    @property
    def description(self) -> str:
        return "a dependency's partition was materialized after this partition"

    def evaluate(self, context: dg.AutomationContext) -> dg.AutomationResult:
        key, partitions_def = context.key, context.partitions_def
        if partitions_def is None:
            return dg.AutomationResult(context, true_subset=context.candidate_subset)
        view = context.asset_graph_view
        graph = context.asset_graph
        parents = [p for p in graph.get(key).parent_entity_keys if graph.get(p).partitions_def == partitions_def]
        newer = {pk for pk in context.candidate_subset.expensively_compute_partition_keys()
                 if (own := _latest_storage_id(view.instance, key, pk)) < 0
                 or any(_latest_storage_id(view.instance, p, pk) > own for p in parents)}
        return dg.AutomationResult(context, true_subset=view.get_subset_from_partition_keys(key, partitions_def,
                                                                                            newer))


def dependency_newer() -> dg.AutomationCondition:
    """A dependency is requested in this tick, or one was materialized after this partition."""
    return (A.any_deps_match(A.will_be_requested()) | DependencyNewer()).with_label("dependency_newer")


def follows_updates() -> dg.AutomationCondition:
    """``eager()`` for every partition of a partitioned asset (see the module docstring)."""
    return (
        A.any_deps_updated().since_last_handled()
        & ~A.any_deps_missing()
        & ~A.any_deps_in_progress()
        & ~A.in_progress()
        & dependency_newer()
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
        & dependency_newer()
    ).with_label("follows_updates_from_any_origin")
