"""`python -m bot [http|socket|turns]` — socket mode when SLACK_APP_TOKEN is set, else HTTP;
`turns` runs only the turn workers (see bot/serve/turns_only.py); `lifecycle` prints the S3
lifecycle rule for this configuration (bot/store/lifecycle.py)."""

from __future__ import annotations

import os
import sys

from dotenv import load_dotenv


def main() -> None:
    load_dotenv()
    default = "socket" if os.environ.get("SLACK_APP_TOKEN") else "http"
    mode = sys.argv[1] if len(sys.argv) > 1 else default
    if mode == "socket":
        from bot.serve.socket_mode import main as socket_main

        socket_main()
    elif mode == "turns":
        from bot.serve.turns_only import main as turns_main

        turns_main()
    elif mode == "lifecycle":
        from bot.store.lifecycle import main as lifecycle_main

        lifecycle_main()
    elif mode == "http":
        from gunicorn.app.wsgiapp import run

        from bot.config.settings import load_or_exit

        load_or_exit(socket_mode=False)  # before gunicorn: one clear error, no reboot loop
        sys.argv = [
            "gunicorn",
            "-c",
            "python:bot.serve.gunicorn_conf",
            "bot.serve.web:create_app()",
        ]
        run()
    else:
        sys.exit(
            f"unknown mode {mode!r}: use `python -m bot http`, `python -m bot socket`, "
            "`python -m bot turns` or `python -m bot lifecycle`"
        )


if __name__ == "__main__":
    main()
