"""Logging set-up: readable text (default) or one JSON object per line (`LOG_FORMAT=json`),
the context of the request or turn being handled on every line, and secrets kept out.

The context (session id, persona, event id, message ts, turn id) lives in a contextvar set
where the values become known (`with logs.context(...)`, in the thread that logs: the
request thread, the turn's pool thread; Strands' own threads copy it). Redaction runs on
each formatted value, exception tracebacks and context included.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import IO, Any, Literal, get_args

from opentelemetry import trace

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = get_args(LogFormat)
# context key -> JSON field, in the order lines show them
FIELDS = {
    "event_id": "event_id",
    "session_id": "session_id",
    "ts": "message_ts",
    "persona": "persona",
    "turn_id": "turn_id",
}
# (pattern, replacement), applied in order to every formatted line
_SECRET_NAME = (
    r"[A-Za-z0-9_.-]*(?:secret|passw(?:or)?d|credentials?|api[_-]?key|"
    r"private[_-]?key|access[_-]?key|(?<![a-z])key(?![a-z])|token(?!s\b))"
    r"[A-Za-z0-9_.-]*"
)
_SECRET_PATTERNS = [
    # Slack tokens: bot, user, app-config, refresh (xoxe-, xoxe.xoxp-), app-level
    (re.compile(r"xox[a-z](?:\.xox[a-z])?-[A-Za-z0-9-]+"), "xox?-[redacted]"),
    (re.compile(r"xapp-[A-Za-z0-9-]+"), "xapp-[redacted]"),
    # any bearer / basic credential, e.g. "Authorization: Bearer sk-ant-..."
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]+"), r"\1\2[redacted]"),
    # provider keys wherever they appear (Anthropic, OpenAI)
    (re.compile(r"\bsk-[A-Za-z0-9_-]{12,}"), "sk-[redacted]"),
    # OAuth code / state and other credentials in URL queries and form bodies
    (re.compile(r"(?i)([?&](?:code|state)=)[^&\s#'\"]+"), r"\1[redacted]"),
    # NAME=value, NAME: value, "name": "value" where the name says secret/token/password/key
    (
        re.compile(rf"(?i)({_SECRET_NAME})(\\?['\"]?\s*[:=]\s*\\?['\"]?)[^\s'\",}}&\\]+"),
        r"\1\2[redacted]",
    ),
]
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "bot_log_context", default=MappingProxyType({})
)
_scoped = contextvars.ContextVar("bot_log_scoped", default=False)


def redact(text: str) -> str:
    """`text` without the secrets the patterns recognise (tokens, keys, passwords, OAuth
    codes): each is replaced by a `[redacted]` marker."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


@contextmanager
def context(**fields: object) -> Iterator[None]:
    """Add `fields` (see FIELDS; None values are left out) to every line logged inside."""
    token, scoped = _context.set({**_context.get(), **_clean(fields)}), _scoped.set(True)
    try:
        yield
    finally:
        _scoped.reset(scoped)
        _context.reset(token)


def bind(**fields: object) -> None:
    """Add `fields` to the enclosing `context()` scope, which drops them when it ends
    (outside any scope, e.g. a test calling a turn directly: nothing, so nothing leaks)."""
    if _scoped.get():
        _context.set({**_context.get(), **_clean(fields)})


def current() -> dict[str, str]:
    return dict(_context.get())


def _clean(fields: dict[str, object]) -> dict[str, str]:
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise TypeError(f"unknown log context fields: {sorted(unknown)}")
    return {key: str(value) for key, value in fields.items() if value not in (None, "")}


class ContextFilter(logging.Filter):
    """Stamps each record with the log context and the current trace (when tracing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get()
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            fields = {
                **fields,
                "trace_id": trace.format_trace_id(span.trace_id),
                "span_id": trace.format_span_id(span.span_id),
            }
        record.bot_context = fields
        return True


def _fields(record: logging.LogRecord) -> Mapping[str, str]:
    return getattr(record, "bot_context", None) or {}


class TextFormatter(logging.Formatter):
    """The readable line, with the context compactly after the logger name."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(process)d %(name)s%(bot_ctx)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        shown = [f"{key.removesuffix('_id')}={fields[key]}" for key in FIELDS if key in fields]
        record.bot_ctx = f" [{' '.join(shown)}]" if shown else ""
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, message, logger, process, thread, the context
    fields present, trace ids while tracing, and the exception text when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields(record)
        entry: dict[str, Any] = {
            "time": _iso_time(record.created),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "process": record.process,
            "thread": record.threadName,
        }
        entry.update({name: fields[key] for key, name in FIELDS.items() if key in fields})
        entry.update({key: fields[key] for key in ("trace_id", "span_id") if key in fields})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        cleaned = {
            key: redact(value) if isinstance(value, str) else value for key, value in entry.items()
        }
        return json.dumps(cleaned, ensure_ascii=False, default=str)


def _iso_time(created: float) -> str:
    millis = int(created * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{millis:03d}Z"


def formatter(fmt: LogFormat = "text") -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def handler(fmt: LogFormat = "text", stream: IO[str] | None = None) -> logging.Handler:
    """A stderr (or `stream`) handler with the context, the format and redaction."""
    out = logging.StreamHandler(stream)
    out.setFormatter(formatter(fmt))
    out.addFilter(ContextFilter())  # redaction: both formatters redact all they write
    return out


def setup(level: str = "INFO", fmt: LogFormat = "text") -> None:
    root = logging.getLogger()
    root.handlers[:] = [handler(fmt)]
    root.setLevel(level)
    for noisy in ("botocore", "urllib3", "strands", "httpx", "openai", "anthropic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def gunicorn_logconfig(level: str = "INFO") -> dict[str, Any]:
    """gunicorn's `logconfig_dict` for LOG_FORMAT=json: its own loggers (gunicorn.error,
    gunicorn.access) hand their records to the root handler, which writes JSON."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": level, "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            # no access lines, as without logconfig_dict (accesslog = None): probes are many
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
        },
        "handlers": {"json": {"()": handler, "fmt": "json"}},
        "formatters": {},
    }
