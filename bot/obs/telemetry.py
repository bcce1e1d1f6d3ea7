"""Tracing: OpenTelemetry through Strands' telemetry, off unless the OTEL_* variables ask.

One trace per turn. The accept of a Slack event is a span in the request thread
(`accepting`); its W3C trace context and the time it was queued ride in the Job (`stamped`),
so the turn, later and maybe in another process, is that span's child (`turn`): the wait
for the thread lock, the session restore, Strands' own agent, cycle, model and tool spans
(they take the current span as parent) and the posts to Slack. Messages coalesced into the
turn are links. While tracing is off every helper here is a no-op.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from bot.jobs import Job
from bot.obs.logs import redact

if TYPE_CHECKING:
    from strands.telemetry import StrandsTelemetry

log = logging.getLogger(__name__)
SERVICE_NAME = "thread-session-bot"
QUEUED_AT = "queued_at"  # beside the W3C fields in Job.trace: when accept queued the job
_tracer = trace.get_tracer("bot")  # a proxy: real once setup() set the global provider
_setup: tuple[int, StrandsTelemetry] | None = None  # the process that set up tracing, and how

Failure = Literal["failed", "model_error", "storage_error"]  # bot.outcome of a failed span
Outcome = Literal["queued", "duplicate", "greeting", "answered", "stopped"] | Failure


def setup(exporters: Sequence[str]) -> bool:
    """Set up tracing once per process (each gunicorn worker after its fork, never the
    master); True when tracing is on. `exporters`: Config.traces ("otlp", "console")."""
    global _setup
    if not exporters or enabled():
        return enabled()
    from strands.telemetry import StrandsTelemetry

    os.environ.setdefault("OTEL_SERVICE_NAME", SERVICE_NAME)  # Strands' default otherwise
    # Strands' switch: prompts, answers and tool input/output stay out of spans unless the
    # operator sets OTEL_SEMCONV_STABILITY_OPT_IN (docs/observability.md: Logs and traces).
    os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_unredacted_attributes=")
    telemetry = StrandsTelemetry()  # the global tracer provider and W3C propagators
    if "otlp" in exporters:
        telemetry.setup_otlp_exporter()  # OTLP/HTTP; reads OTEL_EXPORTER_OTLP_* itself
    if "console" in exporters:
        telemetry.setup_console_exporter()
    _setup = (os.getpid(), telemetry)
    log.info("tracing on: %s, service %s", ",".join(exporters), os.environ["OTEL_SERVICE_NAME"])
    return True


def enabled() -> bool:
    return _setup is not None and _setup[0] == os.getpid()


def shutdown() -> None:
    """Export what is still buffered (a worker exiting)."""
    if _setup is not None and _setup[0] == os.getpid():
        _setup[1].tracer_provider.shutdown()


@contextmanager
def unsampled() -> Iterator[None]:
    """Spans started inside are not recorded (the default sampler follows the parent):
    the warm-up turn at start-up is no trace an operator wants."""
    parent = trace.NonRecordingSpan(
        trace.SpanContext(
            trace_id=random.getrandbits(128) or 1,
            span_id=random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=trace.TraceFlags(trace.TraceFlags.DEFAULT),
        )
    )
    with trace.use_span(parent):
        yield


def _attributes(values: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
    """OpenTelemetry takes str, bool, int, float and sequences of them; no None."""
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in values.items()
        if value is not None and value != ""
    }


def note(outcome: Outcome | None = None, **values: AttributeValue) -> None:
    """Set attributes on the current span: `note(outcome="answered")` -> bot.outcome."""
    span = trace.get_current_span()
    if span.is_recording():
        values = {"outcome": outcome, **values}
        span.set_attributes(_attributes({f"bot.{key}": value for key, value in values.items()}))


def failed(exc: BaseException, outcome: Failure) -> None:
    """The current span failed with `exc`: outcome, error status, and the exception as an
    event, its text redacted like log lines."""
    current = trace.get_current_span()
    if not current.is_recording():
        return
    current.set_attribute("bot.outcome", outcome)
    current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
    current.add_event(
        "exception",
        {
            "exception.type": type(exc).__name__,
            "exception.message": redact(str(exc)),
            "exception.stacktrace": redact("".join(traceback.format_exception(exc))),
        },
    )


@contextmanager
def span(name: str, **values: AttributeValue) -> Iterator[Span]:
    """A child of the current span (bot.<key> attributes)."""
    attributes = _attributes({f"bot.{key}": value for key, value in values.items()})
    with _tracer.start_as_current_span(name, attributes=attributes) as current:
        yield current


@contextmanager
def accepting(job: Job, event_id: str | None, retry: int) -> Iterator[Span]:
    """The accept of one Slack event (dedup, durable record, queue) in the request thread."""
    attributes = _attributes(
        {
            "slack.event_id": event_id,
            "slack.retry_num": retry or None,
            "slack.team_id": job.team,
            "slack.channel_id": job.channel,
            "bot.session_id": job.session_id,
            "bot.message_ts": job.ts,
            "bot.job_kind": job.kind,
        }
    )
    with _tracer.start_as_current_span(
        "slack.event", kind=SpanKind.PRODUCER, attributes=attributes
    ) as current:
        yield current


def stamped(job: Job) -> Job:
    """`job` carrying the current span's trace context and the time it is queued now."""
    if not trace.get_current_span().get_span_context().is_valid:
        return job
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return dataclasses.replace(job, trace={**carrier, QUEUED_AT: f"{time.time():.6f}"})


def _queued_ns(job: Job, now: int) -> int | None:
    try:
        return min(int(float(job.trace[QUEUED_AT]) * 1e9), now)  # another host's clock
    except (KeyError, ValueError):
        return None


def _span_context(job: Job) -> trace.SpanContext | None:
    context = trace.get_current_span(propagate.extract(job.trace)).get_span_context()
    return context if context.is_valid else None


@contextmanager
def turn(jobs: list[Job], turn_id: str) -> Iterator[Span]:
    """The turn over the head of `jobs`: a child of its accept span, from when that was
    queued, with the wait for the thread lock as its first child."""
    head, now = jobs[0], time.time_ns()
    carried = enabled() and bool(head.trace)
    queued = _queued_ns(head, now) if carried else None
    attributes = _attributes(
        {
            "bot.session_id": head.session_id,
            "bot.message_ts": head.ts,
            "bot.turn_id": turn_id,
            "bot.job_kind": head.kind,
            "bot.replayed": head.replayed or None,
        }
    )
    with _tracer.start_as_current_span(
        "turn",
        context=propagate.extract(head.trace) if carried else None,
        kind=SpanKind.CONSUMER,
        attributes=attributes,
        start_time=queued or now,
    ) as current:
        if queued is not None:
            _tracer.start_span("thread_lock.wait", start_time=queued).end(end_time=now)
        yield current


def batch(persona: str, jobs: list[Job]) -> None:
    """The turn answers `jobs` as `persona`: attributes, and links to the accept spans of
    the messages coalesced after the head."""
    current = trace.get_current_span()
    if not current.is_recording():
        return
    current.set_attributes(
        _attributes(
            {
                "bot.persona": persona,
                "bot.messages": len(jobs),
                "bot.message_ts": [job.ts for job in jobs],
            }
        )
    )
    for job in jobs[1:]:
        context = _span_context(job) if job.trace else None
        if context is not None:
            current.add_link(context, {"bot.message_ts": job.ts})
