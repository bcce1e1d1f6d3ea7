"""Settings of the optional features: many workspaces (OAuth), metrics, Redis Cluster, the
log format, tracing and the data lifecycle. Each reads its variables and names the fix."""

from __future__ import annotations

import re

from bot.config.env import ConfigError, flag, get, whole_number
from bot.obs import logs


def session_ttl_days(env: dict[str, str]) -> int | None:
    """SESSION_TTL_DAYS: delete sessions idle this many days (unset or 0: keep them)."""
    raw = get(env, "SESSION_TTL_DAYS")
    if raw is not None and not raw.isdigit():
        raise ConfigError(
            f"SESSION_TTL_DAYS={raw!r} is not a whole number of days; set e.g. "
            "SESSION_TTL_DAYS=30, or unset it to keep sessions until reset."
        )
    return int(raw) or None if raw else None


REDIRECT_PATH = "/slack/oauth_redirect"  # Bolt's default, served by bot/serve/web.py


def oauth(env: dict[str, str], socket_mode: bool) -> tuple[str, str, str | None]:
    """SLACK_CLIENT_ID + SLACK_CLIENT_SECRET: OAuth distribution to many workspaces."""
    client_id, secret = get(env, "SLACK_CLIENT_ID"), get(env, "SLACK_CLIENT_SECRET")
    if not client_id and not secret:
        return "", "", None
    where = "Basic Information -> App Credentials"
    if not client_id:
        raise ConfigError(
            f"SLACK_CLIENT_SECRET is set but SLACK_CLIENT_ID is not: copy the "
            f"Client ID from {where}, or unset SLACK_CLIENT_SECRET."
        )
    if not secret:
        raise ConfigError(
            f"SLACK_CLIENT_ID is set but SLACK_CLIENT_SECRET is not: copy the "
            f"Client Secret from {where}, or unset SLACK_CLIENT_ID."
        )
    if socket_mode:
        raise ConfigError(
            "SLACK_CLIENT_ID/SLACK_CLIENT_SECRET (install in many workspaces) need HTTP mode: "
            "Slack sends installers to /slack/oauth_redirect. Unset SLACK_APP_TOKEN (or run "
            "`python -m bot http`), or unset SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to use "
            "one workspace's SLACK_BOT_TOKEN."
        )
    redirect = get(env, "SLACK_REDIRECT_URI")
    if redirect and (
        not redirect.startswith(("https://", "http://"))
        or not redirect.rstrip("/").endswith(REDIRECT_PATH)
    ):
        raise ConfigError(
            f"SLACK_REDIRECT_URI={redirect!r} must be this bot's URL ending in "
            f"{REDIRECT_PATH}, e.g. https://bot.example.com{REDIRECT_PATH}, "
            "as listed under OAuth & Permissions -> Redirect URLs; or unset it."
        )
    return client_id, secret, redirect


def metrics_port(env: dict[str, str]) -> int | None:
    port = whole_number(env, "METRICS_PORT", 0, minimum=0) or None
    if port and not get(env, "METRICS_TOKEN"):
        raise ConfigError(
            "METRICS_PORT is set but METRICS_TOKEN is not: set METRICS_TOKEN "
            "(scrapers send it as a bearer token) or unset METRICS_PORT."
        )
    return port


def redis_cluster(env: dict[str, str], redis_url: str | None) -> bool | None:
    """REDIS_CLUSTER: on/off forces the mode, unset detects it."""
    if not get(env, "REDIS_CLUSTER"):
        return None
    cluster = flag(env, "REDIS_CLUSTER", False)
    if cluster and redis_url and redis_url.startswith("unix://"):
        raise ConfigError(
            "REDIS_CLUSTER=on needs a redis:// or rediss:// REDIS_URL (Redis "
            "Cluster has no unix sockets); unset REDIS_CLUSTER or fix REDIS_URL."
        )
    return cluster


def log_format(env: dict[str, str]) -> logs.LogFormat:
    fmt = (get(env, "LOG_FORMAT") or "text").lower()
    if fmt not in logs.FORMATS:
        raise ConfigError(
            f"LOG_FORMAT={fmt!r} is not supported; set LOG_FORMAT=json for one "
            "JSON object per line, or unset it (or LOG_FORMAT=text) for text."
        )
    return fmt


TRACE_EXPORTERS = ("otlp", "console")


def traces(env: dict[str, str]) -> tuple[str, ...]:
    """Tracing is off unless the standard OTEL_* variables ask for it."""
    if (get(env, "OTEL_SDK_DISABLED") or "").lower() == "true":
        return ()
    names = [n.strip().lower() for n in (get(env, "OTEL_TRACES_EXPORTER") or "").split(",")]
    names = [n for n in names if n]
    if "none" in names:
        return ()
    unknown = [n for n in names if n not in TRACE_EXPORTERS]
    if unknown:
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER={unknown[0]!r} is not supported; use otlp "
            "(with OTEL_EXPORTER_OTLP_ENDPOINT), console, or none."
        )
    if names:
        return tuple(names)
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return ("otlp",) if any(get(env, name) for name in endpoints) else ()


def approvers(env: dict[str, str]) -> tuple[str, ...]:
    """APPROVERS: user ids (U…/W…), comma-separated, who may decide any approval."""
    raw = [part.strip() for part in (get(env, "APPROVERS") or "").split(",") if part.strip()]
    bad = [part for part in raw if not re.fullmatch(r"[UW][A-Z0-9]{2,}", part)]
    if bad:
        raise ConfigError(
            f"APPROVERS must be Slack user ids (U… or W…), comma-separated; {bad[0]!r} is "
            "not one (find a user's id in their profile: ⋮ → Copy member ID)."
        )
    return tuple(raw)
