"""gunicorn settings for the `web` process (see Procfile)."""

from __future__ import annotations

import atexit
import gc
import glob
import os
import shutil
import tempfile
from types import FrameType
from typing import TYPE_CHECKING

from dotenv import load_dotenv

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker


def _metrics_dir() -> None:
    """Prometheus' multiprocess mode: each worker writes its samples to files here and a
    scrape answered by any worker reads them all (bot/obs/metrics.py). A directory we made is
    removed when the master exits."""
    load_dotenv()  # PROMETHEUS_MULTIPROC_DIR may be set there
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    ours = not path or os.environ.get("BOT_OWN_METRICS_DIR") == path  # ours, read again (HUP)
    path = path or tempfile.mkdtemp(prefix="bot-metrics-")
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):  # a previous run's samples
        os.remove(stale)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    if ours:
        os.environ["BOT_OWN_METRICS_DIR"] = path
        master = os.getpid()  # forked workers inherit atexit handlers: only the master removes

        def remove() -> None:
            if os.getpid() == master:
                shutil.rmtree(path, True)

        atexit.register(remove)


# Before anything imports prometheus_client (the preload below does): it reads this at import.
_metrics_dir()

from bot.config.env import ConfigError  # noqa: E402
from bot.config.settings import exit_on, load_or_exit  # noqa: E402
from bot.obs import logs, telemetry  # noqa: E402
from bot.serve import http_worker  # noqa: E402
from bot.serve.preload import preload  # noqa: E402

# The master reads this file before it starts any worker: a configuration mistake ends
# here with one clear message (`gunicorn … bot.serve.web:create_app()` from the Procfile too).
_config = load_or_exit(socket_mode=False)  # also loads .env, which the settings below read

bind = f"0.0.0.0:{os.environ.get('PORT', '3000')}"
# Without REDIS_URL, state is per process: more than one worker would break dedup and locks.
workers = int(os.environ.get("WEB_CONCURRENCY") or (2 if os.environ.get("REDIS_URL") else 1))
if workers > 1:
    # Import the app's modules once, here, so the workers share them (bot/serve/preload.py); each
    # worker still builds the app (create_app) after the fork. With one worker the master's
    # copy would be shared with nobody (scripts/bench_memory.py --workers 1: more memory).
    preload(_config)

# gthread, except that a request is read whole, under a deadline, before a thread takes it
# (bot/serve/http_worker.py): slow or stalled clients cannot hold the threads.
worker_class = "bot.serve.http_worker.RequestReadingWorker"
threads = int(os.environ.get("WEB_THREADS", "16"))
try:
    http_worker.read_seconds(dict(os.environ))  # REQUEST_READ_SECONDS, read by each worker
    worker_connections = http_worker.max_connections(dict(os.environ))
except ConfigError as exc:
    exit_on(exc)
backlog = 2048
timeout = 60
graceful_timeout = 30
accesslog = None
if _config.log_format == "json":  # gunicorn's own lines too ("Booting worker", errors)
    logconfig_dict = logs.gunicorn_logconfig(_config.log_level)


def pre_fork(server: Arbiter, worker: Worker) -> None:
    gc.freeze()  # whatever the master allocated since the preload: shared, not collected


def post_fork(server: Arbiter, worker: Worker) -> None:
    telemetry.setup(_config.traces)  # each worker its own tracer provider and export thread


def post_worker_init(worker: Worker) -> None:
    """Chain SIGTERM: our turn workers stop taking threads as soon as gunicorn stops
    taking requests, not only when its graceful period ends."""
    import signal

    from bot.serve.main import begin_stop_all

    gunicorn_handler = signal.getsignal(signal.SIGTERM)

    def on_sigterm(sig: int, frame: FrameType | None) -> None:
        begin_stop_all()
        if callable(gunicorn_handler):
            gunicorn_handler(sig, frame)

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.siginterrupt(signal.SIGTERM, False)


def child_exit(server: Arbiter, worker: Worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # its live gauges leave the sum


def worker_exit(server: Arbiter, worker: Worker) -> None:
    from bot.serve.main import stop_all

    stop_all(timeout=graceful_timeout - 5)
    telemetry.shutdown()


control_socket_disable = True  # several bots on one host would share one control socket
