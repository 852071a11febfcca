"""Alert messages about the replica, and their delivery through Apprise.

Operators must learn that a table is wrong or stale without opening the Dagster UI.
:func:`check_alert` and :func:`run_failure_alert` turn a failed check evaluation or a
failed run into a short text naming the table, the check, the figures (counts,
differences, example keys), the run and -- when ``DAGSTER_WEBSERVER_URL`` is set -- a
link. :class:`Notifier` sends it to every Apprise URL in ``REPLICA_ALERT_URLS`` (Slack,
Microsoft Teams, e-mail, a generic JSON webhook ``json://`` / ``jsons://``, ...); with
none set, the alert is logged instead.

No secret may reach a message: every text passes :func:`redact`, which removes the
values of secret-looking environment variables (``*_PASSWORD``, ``*_TOKEN``, ...), the
alert URLs themselves (they often carry webhook tokens) and passwords inside URLs.
Delivery targets are identified by a short hash of their URL, never the URL, in logs
and in the sensors' cursors.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import apprise
from dagster import AssetCheckSeverity, MetadataValue, TimestampMetadataValue

ALERT_URLS_ENV = "REPLICA_ALERT_URLS"
WEBSERVER_URL_ENV = "DAGSTER_WEBSERVER_URL"
ALERT_ON_WARN_ENV = "REPLICA_ALERT_ON_WARN"

# Chat tools cut or reject long posts (Slack ~40k, Teams ~28k, many webhooks far less);
# 3,500 characters keeps every message whole everywhere while holding 20 example keys.
MAX_BODY_CHARS = 3500
# Example keys written into a message; the check's metadata holds all (up to 20).
MAX_MESSAGE_EXAMPLES = 20

# Figures a reader looks for first, in this order; any other metadata follows by name.
_FIGURE_ORDER = [
    "source_rows", "target_rows", "difference", "tolerance", "missing_in_target",
    "extra_in_target", "different_values", "differing_columns",
]

_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ALERT_URLS)$", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)([^@\s/]+)(@)", re.IGNORECASE)
# Several URLs in one variable: separated by whitespace or commas before the next scheme
# (a comma inside a URL's query string, e.g. ?to=a,b, is kept).
_URL_SPLIT = re.compile(r"[\s,]+(?=[A-Za-z][A-Za-z0-9+.-]*://)|\s+")


@dataclass(frozen=True)
class Alert:
    title: str
    body: str
    error: bool  # True: ERROR/failure; False: a warning (e.g. a stale replica)


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` without secret values from the environment or passwords in URLs."""
    env = os.environ if environ is None else environ
    secrets: set[str] = set()
    for name, value in env.items():
        if value and _SECRET_NAME.search(name):
            secrets.add(value)
            secrets.update(split_urls(value) if name.upper().endswith("ALERT_URLS") else ())
    # Longest first so a URL is removed whole before any shorter secret inside it.
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return _URL_PASSWORD.sub(r"\1***\3", text)


def split_urls(value: str | None) -> list[str]:
    return [u for u in _URL_SPLIT.split(value or "") if u.strip()]


def target_id(url: str) -> str:
    """A stable, non-reversible name for a delivery target (logs, cursors)."""
    return hashlib.sha256(url.encode()).hexdigest()[:10]


def run_link(run_id: str, environ: Mapping[str, str] | None = None) -> str | None:
    base = (os.environ if environ is None else environ).get(WEBSERVER_URL_ENV, "").strip()
    return f"{base.rstrip('/')}/runs/{run_id}" if base else None


def _render_meta(value: Any) -> str:
    if isinstance(value, TimestampMetadataValue):
        return dt.datetime.fromtimestamp(value.value, dt.timezone.utc).isoformat(timespec="seconds")
    raw = value.value if isinstance(value, MetadataValue) else value
    if isinstance(raw, (dict, list)):
        return json.dumps(raw, ensure_ascii=False, default=str, separators=(", ", ": "))
    return str(raw)


def _examples(raw: Any) -> list[str]:
    lines = []
    for e in (raw or [])[:MAX_MESSAGE_EXAMPLES]:
        key = ", ".join(f"{k}={v}" for k, v in e.get("key", {}).items())
        cols = f" (columns: {', '.join(e['columns'])})" if e.get("columns") else ""
        lines.append(f"  - {e.get('kind')}: {key}{cols}")
    return lines


def check_alert(
    *,
    asset_key: Iterable[str],
    check_name: str,
    severity: AssetCheckSeverity,
    description: str | None,
    metadata: Mapping[str, Any],
    run_id: str,
    environ: Mapping[str, str] | None = None,
) -> Alert:
    table = ".".join(asset_key)
    level = "ERROR" if severity == AssetCheckSeverity.ERROR else "WARN"
    lines = [
        f"Table: {table}",
        f"Check: {check_name} failed ({level})",
    ]
    if description:
        lines.append(f"Result: {description}")
    figures = []
    examples: list[str] = []
    # The event log returns metadata sorted by name; the counts read best first.
    ordered = sorted(metadata.items(), key=lambda kv: (
        _FIGURE_ORDER.index(kv[0]) if kv[0] in _FIGURE_ORDER else len(_FIGURE_ORDER), kv[0]))
    for name, value in ordered:
        if name == "example_keys":
            examples = _examples(value.value if isinstance(value, MetadataValue) else value)
            continue
        figures.append(f"  {name.removeprefix('dagster/')}: {_render_meta(value)}")
    if figures:
        lines.append("Figures:")
        lines.extend(figures)
    if examples:
        lines.append("Example keys:")
        lines.extend(examples)
    lines.append(f"Run: {run_id}")
    if link := run_link(run_id, environ):
        lines.append(f"Link: {link}")
    return _finish(f"[mctm_replica] {table}: check {check_name} failed", lines, level == "ERROR", environ)


def run_failure_alert(
    *,
    job_name: str,
    run_id: str,
    message: str | None,
    step_failures: list[tuple[str, str]],
    environ: Mapping[str, str] | None = None,
) -> Alert:
    lines = [f"Job: {job_name}", f"Run: {run_id} failed"]
    if message:
        lines.append(f"Result: {message}")
    if step_failures:
        lines.append("Failed steps:")
        lines.extend(f"  - {step}: {error}" for step, error in step_failures)
    if link := run_link(run_id, environ):
        lines.append(f"Link: {link}")
    return _finish(f"[mctm_replica] run of {job_name} failed", lines, True, environ)


def _finish(title: str, lines: list[str], error: bool, environ: Mapping[str, str] | None) -> Alert:
    body = "\n".join(lines)
    if len(body) > MAX_BODY_CHARS:
        body = body[: MAX_BODY_CHARS - 20] + "\n… (truncated)"
    return Alert(redact(title, environ), redact(body, environ), error)


class Notifier:
    """Sends alerts to each configured Apprise URL separately, so one broken endpoint
    neither blocks the others nor makes them receive a message twice on retry."""

    def __init__(self, urls: list[str], log: Any):
        self.log = log
        self.targets: dict[str, apprise.Apprise] = {}
        for url in urls:
            tid = target_id(url)
            app = apprise.Apprise()
            if not app.add(url):
                scheme = url.split("://", 1)[0] if "://" in url else "?"
                log.error(f"alert target {tid} ({scheme}://...) is not a valid Apprise URL; skipped")
                continue
            self.targets[tid] = app

    @classmethod
    def from_env(cls, log: Any, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(split_urls(env.get(ALERT_URLS_ENV)), log)

    def send(self, alert: Alert, only: Iterable[str] | None = None) -> list[str]:
        """Deliver ``alert``; returns the ids of targets that failed (to retry later).

        With no target configured the alert is logged, which counts as delivered.
        """
        if not self.targets:
            self.log.warning(f"{alert.title}\n{alert.body}\n(no {ALERT_URLS_ENV} set: logged only)")
            return []
        wanted = set(self.targets) if only is None else set(only) & set(self.targets)
        failed = []
        notify_type = apprise.NotifyType.FAILURE if alert.error else apprise.NotifyType.WARNING
        for tid in sorted(wanted):
            try:
                ok = self.targets[tid].notify(
                    title=alert.title, body=alert.body, notify_type=notify_type,
                    body_format=apprise.NotifyFormat.TEXT,
                )
            except Exception as e:  # a plugin bug must not stop the other targets
                self.log.error(f"alert target {tid}: delivery raised {type(e).__name__}")
                ok = False
            if ok:
                self.log.info(f"alert delivered to target {tid}: {alert.title}")
            else:
                self.log.error(f"alert delivery to target {tid} failed; will retry next tick")
                failed.append(tid)
        return failed
