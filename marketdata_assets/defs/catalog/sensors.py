"""Run-failure alerts: a JSON notification to the ``alert_webhook`` resource's URL
(``MARKETDATA_ALERT_WEBHOOK_URL``) for every failed run of this code location.

Payload: ``{"event": "dagster_run_failure", "run_id", "job", "failed_steps", "error",
"steps": {step: error}, "dagster_ui_path"}``. The error texts are our own exceptions' and
Dagster's messages, cut to ``MAX_ERROR_CHARS``, with the value of every secret the provider
resource's settings hold (API keys, the sidecar token) replaced by ``***``; the webhook URL (which often embeds a token) is never logged.
"""

from __future__ import annotations

import dagster as dg
import httpx

from marketdata_assets.defs.catalog.resources import AlertWebhookResource, MetadataProvidersResource
from marketdata_assets.errors import SourceUnavailable
from marketdata_assets.settings import Settings

MAX_ERROR_CHARS = 2000


def secrets_of(settings: Settings) -> list[str]:
    values = [p.api_key.get() for p in settings.providers.values()] + [settings.sidecar_token.get()]
    return [v for v in values if v]


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text[:MAX_ERROR_CHARS]


def failure_payload(context: dg.RunFailureSensorContext, secrets: list[str]) -> dict:
    steps = {}
    for event in context.get_step_failure_events():
        error = event.step_failure_data.error
        steps[event.step_key] = scrub(error.message.strip() if error else event.message or "", secrets)
    run = context.dagster_run
    return {
        "event": "dagster_run_failure",
        "run_id": run.run_id,
        "job": run.job_name,
        "failed_steps": sorted(steps),
        "error": scrub(context.failure_event.message or "", secrets),
        "steps": steps,
        "dagster_ui_path": f"/runs/{run.run_id}",
    }


@dg.run_failure_sensor(name="run_failure_webhook", default_status=dg.DefaultSensorStatus.RUNNING,
                       description="POST a JSON summary of every failed run to the alert_webhook resource's URL "
                                   "(MARKETDATA_ALERT_WEBHOOK_URL), secrets scrubbed.")
def run_failure_webhook(context: dg.RunFailureSensorContext, alert_webhook: AlertWebhookResource,
                        metadata_providers: MetadataProvidersResource):
    if not alert_webhook.url:
        return dg.SkipReason("no alert webhook configured (MARKETDATA_ALERT_WEBHOOK_URL is not set)")
    payload = failure_payload(context, secrets_of(metadata_providers.settings()))
    try:
        response = httpx.post(alert_webhook.url, json=payload, timeout=alert_webhook.timeout_s)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        # httpx's message embeds the URL (and with it any token): report the kind only.
        status = getattr(getattr(exc, "response", None), "status_code", None)
        raise SourceUnavailable("alert webhook", f"POST failed: {type(exc).__name__}"
                                + (f" (HTTP {status})" if status else "")) from None
    context.log.info("run %s failure posted to the alert webhook", payload["run_id"])
    return None
