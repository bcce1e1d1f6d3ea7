"""The Dockerfile and compose.yaml agree with the Procfile and the bot's own limits (the
tests need no Docker: this machine has no engine; the image's build steps were run by hand,
see docs/operations.md "Docker")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
DRAIN_SECONDS = 25  # bot.serve.main.stop_all
# bot/serve/gunicorn_conf.py reads the configuration when imported: read the value instead
GRACEFUL_TIMEOUT = int(
    re.search(
        r"^graceful_timeout = (\d+)",
        (ROOT / "bot" / "serve" / "gunicorn_conf.py").read_text(),
        re.M,
    ).group(1)
)


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_image_runs_the_procfiles_web_command_as_non_root() -> None:
    procfile = dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines())
    cmd = json.loads(re.search(r"^CMD (.+)$", dockerfile(), re.M).group(1))
    assert " ".join(f'"{p}"' if "(" in p else p for p in cmd) == procfile["web"]
    user = re.findall(r"^USER (\S+)$", dockerfile(), re.M)
    assert user and user[-1] not in ("root", "0")
    assert "uv sync --frozen --no-dev" in dockerfile()
    assert re.search(r"^FROM python:3\.\d+-slim", dockerfile(), re.M)


def test_image_leaves_secrets_and_tests_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", ".data", "tests"} <= set(ignored)


def test_compose_runs_two_web_processes_with_redis_and_s3() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    web = services["web"]
    assert web["deploy"]["replicas"] == 2
    assert web["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert web["environment"]["SESSION_BUCKET"]
    assert "/readyz" in " ".join(web["healthcheck"]["test"])
    grace = int(web["stop_grace_period"].rstrip("s"))
    assert grace > max(DRAIN_SECONDS, GRACEFUL_TIMEOUT)
    assert {"redis", "s3", "proxy"} <= set(services)
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server web:3000" in nginx
