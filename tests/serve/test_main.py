"""First run: a configuration mistake is one clear message and an exit, before any server
starts, in every way the bot is started (README, Procfile `web`, `worker` and `turns`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.ports import free_port
from tests.fakes.slack_api import FakeSlack
from tests.support.bot_process import COMMAND, ROOT
from tests.support.harness import base_env
from tests.support.processes import clean_env, run_to_exit

STARTS = {
    "python -m bot": [sys.executable, "-m", "bot"],
    "Procfile web": COMMAND,
    "Procfile worker": [sys.executable, "-m", "bot", "socket"],
    "Procfile turns": [sys.executable, "-m", "bot", "turns"],
}


@pytest.mark.parametrize("start", list(STARTS), ids=list(STARTS))
def test_no_env_file_is_one_config_error_and_an_exit(start: str, tmp_path: Path) -> None:
    """A fresh clone: no .env, no tokens. Run from an empty directory (no .env there)."""
    done = run_to_exit(STARTS[start], tmp_path, clean_env())
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert output.count("configuration error") == 1, output
    assert "SLACK_BOT_TOKEN is not set" in output and "cp .env.example .env" in output
    assert "Booting worker" not in output and "Traceback" not in output, output


def test_a_worker_that_cannot_boot_stops_gunicorn_instead_of_looping(tmp_path: Path) -> None:
    """Config the master accepts but the app refuses (a broken personas file)."""
    personas = tmp_path / "personas.toml"
    personas.write_text('[[persona]]\nid = "Not Valid!"\nsystem_prompt = "x"\n')
    env = clean_env(
        **base_env("http://127.0.0.1:9/api/"),
        PERSONAS_FILE=str(personas),
        PORT=str(free_port()),
        SESSION_DIR=str(tmp_path / "sessions"),
    )
    done = run_to_exit(STARTS["Procfile web"], ROOT, env)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert output.count("configuration error") == 1, output
    assert "PERSONAS_FILE" in output and output.count("Booting worker") == 1, output


def test_start_up_log_has_no_spurious_warnings(tmp_path: Path, fake_slack: FakeSlack) -> None:
    env = clean_env(
        **base_env(fake_slack.base_url, LOG_LEVEL="INFO"),
        PORT=str(free_port()),
        SESSION_DIR=str(tmp_path / "sessions"),
    )
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            STARTS["python -m bot"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 40
            while "bot ready" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.1)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    output = log.read_text()
    assert "bot ready" in output, output
    warnings = [line for line in output.splitlines() if " WARNING " in line]
    # The embedded defaults are announced on purpose; nothing else may warn.
    assert all("REDIS_URL is not set" in w or "SESSION_BUCKET is not set" in w for w in warnings), (
        warnings
    )
    assert "will be unused" not in output and "Traceback" not in output, output
