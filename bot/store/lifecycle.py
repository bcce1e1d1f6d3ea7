"""Data lifecycle: how long stored sessions and durable-inbox records are kept.

S3 expires objects itself, by a bucket lifecycle rule (no request per object from us):
`python -m bot lifecycle` prints the exact rule, and a process that starts with
`SESSION_TTL_DAYS` checks the bucket has it. S3 dates an object by its last write, and a
persona's snapshot is rewritten by every turn it answers, so "written N days ago" is
"idle for N days". The file store of the embedded default is swept by the bot itself, with
the same rule: a file not written for the TTL is deleted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from bot.store.blobs import Blobs, S3Blobs

log = logging.getLogger(__name__)
INBOX_KEEP_DAYS = 2  # records are read for an hour only (bot/store/inbox.py); kept for a look
OAUTH_STATES = "oauth-state/"  # bot.slack.installations: one per install begun, deleted when used
OAUTH_STATE_KEEP_DAYS = 1  # an abandoned install's state is useless after 10 minutes
SESSION_KEYS = "session"  # prefix of both layouts: `session/<id>/…` and legacy `session_<id>/`
SWEEP_SECONDS = 3600
_DAY = 86400.0


def configuration(prefix: str, ttl_days: int | None) -> dict[str, Any]:
    """The bucket lifecycle configuration for these settings (JSON for the AWS CLI)."""
    rules = [
        _rule("expire-inbox", prefix + "inbox/", INBOX_KEEP_DAYS),
        _rule("expire-oauth-state", prefix + OAUTH_STATES, OAUTH_STATE_KEEP_DAYS),
    ]
    if ttl_days:
        rules.append(_rule("expire-idle-sessions", prefix + SESSION_KEYS, ttl_days))
    return {"Rules": rules}


def _rule(rule_id: str, prefix: str, days: int) -> dict[str, Any]:
    # Versioned buckets keep overwritten and deleted objects as old versions: expire those too.
    return {
        "ID": rule_id,
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "Expiration": {"Days": days},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
    }


def _expires_after(rule: dict[str, Any], key: str) -> int | None:
    """The days after which an enabled rule expires `key` (None: it does not)."""
    found = rule.get("Filter") or {}
    prefix = found.get("Prefix", (found.get("And") or {}).get("Prefix", rule.get("Prefix", "")))
    if rule.get("Status") != "Enabled" or not key.startswith(prefix or ""):
        return None
    if found.get("Tag") or (found.get("And") or {}).get("Tags"):
        return None  # our objects carry no tags
    return (rule.get("Expiration") or {}).get("Days")


def _expiry(rules: list[dict[str, Any]], key: str) -> int | None:
    found = [days for rule in rules if (days := _expires_after(rule, key))]
    return min(found) if found else None


def check_bucket(blobs: S3Blobs, ttl_days: int | None, oauth: bool = False) -> str | None:
    """What is wrong with the bucket's rules for these settings, or None if nothing."""
    try:
        rules = blobs.lifecycle_rules()
    except Exception as exc:  # e.g. no s3:GetLifecycleConfiguration: say so, do not fail
        return f"could not read the lifecycle rules of bucket {blobs.bucket} ({exc})"
    problems = []
    if _expiry(rules, blobs.prefix + "inbox/") is None:
        problems.append("nothing expires the durable inbox records, so they pile up")
    if oauth and _expiry(rules, blobs.prefix + OAUTH_STATES) is None:
        problems.append("nothing expires abandoned OAuth states")
    sessions = _expiry(rules, f"{blobs.prefix}{SESSION_KEYS}/x")
    if sessions != ttl_days:
        problems.append(
            f"sessions expire after {sessions or 'no'} days but "
            f"SESSION_TTL_DAYS={ttl_days or 'unset'}"
        )
    if not problems:
        return None
    return (
        f"bucket {blobs.bucket}: {'; '.join(problems)}. Apply the rule printed by "
        "`python -m bot lifecycle` with `aws s3api put-bucket-lifecycle-configuration "
        f"--bucket {blobs.bucket} --lifecycle-configuration file://rule.json`."
    )


def sweep(blobs: Blobs, ttl_days: int | None, now: float | None = None) -> list[str]:
    """Delete what a lifecycle rule would (for the file store); the deleted keys."""
    now = time.time() if now is None else now
    expired = []
    for key, written in blobs.listed(""):
        if key.startswith("inbox/"):
            days = INBOX_KEEP_DAYS
        elif key.startswith(OAUTH_STATES):
            days = OAUTH_STATE_KEEP_DAYS
        elif key.startswith(SESSION_KEYS) and ttl_days:
            days = ttl_days
        else:
            continue
        if written < now - days * _DAY:
            expired.append(key)
    if expired:
        blobs.delete(expired)
    return expired


def start_sweeper(blobs: Blobs, ttl_days: int | None, on_expired: Any = None) -> threading.Thread:
    """Sweep now and then hourly, in a daemon thread (file store only)."""

    def loop() -> None:
        while True:
            try:
                expired = sweep(blobs, ttl_days)
                sessions = {k for k in expired if k.startswith(SESSION_KEYS)}
                if expired:
                    log.info(
                        "expired %d stored objects (%d of sessions idle over %s days)",
                        len(expired),
                        len(sessions),
                        ttl_days,
                    )
                if on_expired is not None and sessions:
                    on_expired(sessions)
            except Exception as exc:
                log.warning("sweeping expired sessions failed: %s", exc)
            time.sleep(SWEEP_SECONDS)

    thread = threading.Thread(target=loop, name="lifecycle", daemon=True)
    thread.start()
    return thread


def main() -> None:
    """`python -m bot lifecycle`: print the bucket lifecycle rule for this configuration."""
    import json

    from dotenv import load_dotenv

    from bot.config.env import ConfigError
    from bot.config.features import session_ttl_days

    load_dotenv()
    try:
        ttl = session_ttl_days(dict(os.environ))
    except ConfigError as exc:
        raise SystemExit(f"configuration error: {exc}") from None
    print(json.dumps(configuration(os.environ.get("SESSION_PREFIX") or "sessions/", ttl), indent=2))
