"""The daily catalog job runs every component in order, continues past a failed one and
names it; its schedule requests it; a failed run reaches the alert webhook as JSON."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from marketdata_assets.defs.catalog.jobs import catalog_daily_job
from marketdata_assets.defs.catalog.resources import AlertWebhookResource, MetadataProvidersResource
from marketdata_assets.defs.catalog.schedules import catalog_daily_schedule
from marketdata_assets.defs.catalog.sensors import run_failure_webhook
from marketdata_assets.defs.resources import SierraResource, WarehouseResource
from marketdata_assets.errors import SourceUnavailable
from marketdata_assets.storage.warehouse import open_warehouse
from marketdata_assets_tests.catalog.helpers import add_daily_bars, load_sample, snapshot
from marketdata_assets_tests.defs.helpers import QUIET

COMPONENT_OPS = ["catalog_bootstrap", "catalog_symbol_sync", "catalog_enrichment", "catalog_integrity_report"]


def run_daily(instance, url, run_config=None):
    defs = dg.Definitions(jobs=[catalog_daily_job], executor=dg.in_process_executor, resources={
        "warehouse": WarehouseResource(url=url), "metadata_providers": MetadataProvidersResource(),
        "sierra": SierraResource()})
    return defs.get_job_def("catalog_daily").execute_in_process(
        instance=instance, raise_on_error=False, run_config={**QUIET, **(run_config or {})})


def last_report(url):
    with open_warehouse(url) as wh:
        return wh.read("data_integrity_reports", order_by=("reported_at",)).iloc[-1]


def test_daily_job_runs_every_component_in_order_past_a_failed_one_and_names_it(
        instance, sample_dir, warehouse_url, fake):
    load_sample(instance, sample_dir, warehouse_url, partitions=[("2024-03-11", "ESH24")])
    add_daily_bars(warehouse_url, ["AAPL", "MSFT"])
    fake.set_fault("*", "500")  # every metadata provider down: enrichment fails

    result = run_daily(instance, warehouse_url)

    assert not result.success
    started = [e.step_key for e in result.all_events if e.event_type_value == "STEP_START"]
    assert started == [*COMPONENT_OPS, "catalog_outcome"]
    assert result.get_failed_step_keys() == {"catalog_outcome"}
    outcomes = result.output_for_node("catalog_integrity_report")
    assert {k: v.split(":")[0] for k, v in outcomes.items()} == {
        "reference_data": "ok", "symbols": "ok", "enriched_assets": "failed", "data_integrity_report": "ok"}
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "catalog components failed: enriched_assets (SourceUnavailable" in failure
    report = last_report(warehouse_url)
    assert report["run_id"] == result.run_id and report["status"] == "fail"
    assert list(json.loads(report["failed_components"])) == ["enriched_assets"]
    assert report["orphan_records"] == 0 and report["enrichment_coverage"] == 0.0
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks["no_orphan_records"] and not checks["enrichment_coverage_above_70pct"]
    materialized = {m.asset_key.to_user_string() for n in COMPONENT_OPS for m in result.asset_materializations_for_node(n)}
    assert materialized == {"reference_data", "symbols", "data_integrity_report"}
    snap = snapshot(warehouse_url, ("markets", "symbols", "enriched_assets"))
    assert len(snap["markets"]) == 9  # bootstrapped
    assert list(snap["symbols"]["symbol"]) == ["AAPL", "ESH24", "MSFT"]
    assert dict(zip(snap["enriched_assets"]["symbol"], snap["enriched_assets"]["status"], strict=True)) == \
        {"AAPL": "failed", "ESH24": "not_applicable", "MSFT": "failed"}

    fake.set_fault("*", "ok")
    again = run_daily(instance, warehouse_url)

    assert again.success
    assert again.output_for_node("catalog_integrity_report")["reference_data"].startswith("skipped")
    assert last_report(warehouse_url)["status"] == "pass"


def test_schedule_requests_the_daily_job():
    context = dg.build_schedule_context(scheduled_execution_time=None)

    request = catalog_daily_schedule.evaluate_tick(context).run_requests[0]

    assert catalog_daily_schedule.job_name == "catalog_daily"
    assert catalog_daily_schedule.cron_schedule == "30 1 * * *"
    assert request.run_config == {}


class Receiver:
    """A local HTTP endpoint that records the POSTs it gets and answers ``status``."""

    def __init__(self, status: int = 204):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append({"path": self.path, "type": self.headers["Content-Type"], "body": body})
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0KEN-IN-URL"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def failed_run(instance, tmp_path, monkeypatch):
    """A catalog run that failed (symbol sync given an unknown asset class); call it with the
    alert webhook's URL to get the failure sensor's context."""
    monkeypatch.setenv("POLYGON_API_KEY", "SECRET-KEY-123-PG")
    result = run_daily(instance, f"sqlite:///{tmp_path}/wh.db", run_config={
        "ops": {"catalog_symbol_sync": {"config": {"asset_classes": ["BONDS"]}}}})
    assert not result.success

    def context(webhook_url: str | None):
        return dg.build_run_status_sensor_context(
            sensor_name="run_failure_webhook", dagster_instance=instance, dagster_run=result.dagster_run,
            dagster_event=result.get_run_failure_event(),
            resources={"alert_webhook": AlertWebhookResource(url=webhook_url),
                       "metadata_providers": MetadataProvidersResource()}).for_run_failure()

    return context


def test_a_failed_run_posts_its_json_summary_to_the_webhook(failed_run):
    receiver = Receiver()
    try:
        context = failed_run(receiver.url)
        run_failure_webhook(context)
    finally:
        receiver.close()

    assert len(receiver.received) == 1
    post = receiver.received[0]
    payload = json.loads(post["body"])
    assert post["path"] == "/hooks/T0KEN-IN-URL" and post["type"] == "application/json"
    assert payload["event"] == "dagster_run_failure" and payload["job"] == "catalog_daily"
    assert payload["run_id"] == context.dagster_run.run_id
    assert payload["failed_steps"] == ["catalog_outcome"]
    assert "catalog components failed: symbols (ConfigError" in payload["steps"]["catalog_outcome"]
    assert "BONDS" in payload["steps"]["catalog_outcome"]
    assert "SECRET-KEY" not in post["body"].decode()


def test_a_webhook_error_is_raised_without_the_url_and_no_url_means_no_post(failed_run, monkeypatch):
    receiver = Receiver(status=500)
    monkeypatch.setenv("MARKETDATA_ALERT_WEBHOOK_URL", receiver.url)  # the resource's URL is what counts
    try:
        with pytest.raises(SourceUnavailable) as err:
            run_failure_webhook(failed_run(receiver.url))
        skipped = run_failure_webhook(failed_run(None))
    finally:
        receiver.close()

    assert "HTTP 500" in str(err.value) and "T0KEN" not in str(err.value)
    assert isinstance(skipped, dg.SkipReason)
    assert len(receiver.received) == 1


def test_the_webhook_resource_names_the_variable_when_it_is_set_and_is_empty_otherwise(monkeypatch):
    from marketdata_assets.definitions import build_defs
    from marketdata_assets.settings import get_settings

    monkeypatch.setenv("MARKETDATA_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/hooks/T0KEN-IN-URL")
    configured = build_defs(get_settings()).resources["alert_webhook"]
    monkeypatch.delenv("MARKETDATA_ALERT_WEBHOOK_URL")
    unset = build_defs(get_settings()).resources["alert_webhook"]

    assert configured.url == dg.EnvVar("MARKETDATA_ALERT_WEBHOOK_URL")  # the UI shows the name, not the URL
    assert unset.url is None
