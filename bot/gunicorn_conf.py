"""gunicorn settings for the `web` process (see Procfile)."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '3000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "16"))
backlog = 2048
timeout = 60
graceful_timeout = 30
accesslog = None


def worker_exit(server, worker):  # noqa: ANN001 - gunicorn hook signature
    from bot.main import stop_all

    stop_all(timeout=graceful_timeout - 5)
