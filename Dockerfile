# The bot's image: Python slim, dependencies installed by uv from uv.lock, run as a non-root
# user. One image for every Procfile process type; pick one with the command, e.g.
#   docker run --env-file .env -p 3000:3000 thread-session-bot                 # web (HTTP)
#   docker run --env-file .env thread-session-bot python -m bot socket         # Socket Mode
#   docker run --env-file .env thread-session-bot python -m bot turns          # turns only
FROM python:3.11-slim

COPY --from=ghcr.io/astral-sh/uv:0.13 /uv /usr/local/bin/uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:$PATH" \
    PORT=3000

WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project && rm -rf /root/.cache/uv

COPY bot ./bot
COPY Procfile manifest.yml personas.example.toml ./

# Non-root; the embedded default's file store (SESSION_DIR) is the only place it writes.
RUN useradd --system --uid 10001 --no-create-home --home-dir /app bot \
    && mkdir -p /app/.data && chown bot /app/.data
USER 10001

EXPOSE 3000
# The Procfile's web process: gunicorn with bot/serve/gunicorn_conf.py (binds 0.0.0.0:$PORT).
CMD ["gunicorn", "-c", "python:bot.serve.gunicorn_conf", "bot.serve.web:create_app()"]
