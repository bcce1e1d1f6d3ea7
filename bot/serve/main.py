"""Start-up shared by both modes: .env, config, logging, runtime, app, worker."""

from __future__ import annotations

import logging

from slack_bolt import App

from bot.agent.warmup import warm_up
from bot.config import settings as config_module
from bot.config.settings import ConfigError
from bot.obs import logs, telemetry
from bot.serve.bolt_app import build_app
from bot.serve.runtime import Runtime

log = logging.getLogger(__name__)
_started: list[Runtime] = []


def start_runtime(
    *, socket_mode: bool, turns_only: bool = False, exit_code: int = config_module.CONFIG_EXIT
) -> tuple[Runtime, App]:
    config = config_module.load_or_exit(
        socket_mode=socket_mode, turns_only=turns_only, exit_code=exit_code
    )
    logs.setup(config.log_level, config.log_format)
    telemetry.setup(config.traces)  # once per process; gunicorn: in post_fork already
    try:
        runtime = Runtime.build(config)
        app = build_app(runtime)
    except ConfigError as exc:  # e.g. a personas file that does not parse
        config_module.exit_on(exc, exit_code)
    runtime.keep_lifecycle()
    if runtime.config.role != "accept":  # an accept-only process never runs turns
        with telemetry.unsampled():
            warmed = warm_up(runtime.personas, runtime.store)
        log.debug("warmed up in %.0f ms", warmed * 1000)
        runtime.worker.start()
    _started.append(runtime)
    log.info(
        "bot ready: %s mode, role=%s, state=%s, sessions=%s, personas=%s",
        "turns" if turns_only else "socket" if socket_mode else "http",
        runtime.config.role,
        "redis" if runtime.state.distributed else "in-process",
        runtime.store.kind,
        ",".join(runtime.personas.ids),
    )
    return runtime, app


def begin_stop_all() -> None:
    """On SIGTERM: stop taking new work at once (the wait happens in stop_all)."""
    for runtime in _started:
        runtime.worker.begin_stop()


def stop_all(timeout: float = 25.0) -> None:
    """Graceful stop: finish running turns, hand queued work back, release locks, and stop
    the MCP servers this process started."""
    while _started:
        runtime = _started.pop()
        runtime.worker.stop(timeout)
        runtime.personas.stop()
