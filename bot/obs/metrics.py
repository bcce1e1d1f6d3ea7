"""Metrics: their definitions and the helpers that record them (with bot/obs/metrics_endpoint.py,
which serves them, the only modules that talk to prometheus_client).

Call sites stay one line each (`metrics.accepted(...)`, `metrics.fencing_refused()`, ...)
or hook in: `AgentMetrics` is a Strands hook provider (model time, tokens, tool calls),
`SlackCalls` a slack_sdk retry handler that sees every HTTP attempt (429s included),
`watch_s3` registers on a boto3 client's event system.

Under gunicorn, bot/serve/gunicorn_conf.py sets PROMETHEUS_MULTIPROC_DIR before anything imports
this module: every worker then writes its samples to files there, and a scrape answered
by any worker reads them all (bot/obs/metrics_endpoint.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal, get_args

from prometheus_client import (
    Counter,
    Histogram,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from strands.hooks import (
    AfterInvocationEvent,
    AfterModelCallEvent,
    AfterToolCallEvent,
    BeforeModelCallEvent,
    HookProvider,
    HookRegistry,
)

from bot.jobs import Job, JobKind, message_time

log = logging.getLogger(__name__)

SECONDS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300)
Outcome = Literal[
    "answered",
    "stopped",
    "replayed",
    "model_error",
    "storage_error",
    "lock_lost",
    "uninstalled",
]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
LockLoss = Literal["taken_over", "expired"]
UsageField = Literal[
    "inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens"
]  # of Strands' Usage

TURNS = Counter("tsb_turns", "Turns by persona and outcome", ["persona", "outcome"])
TURN_SECONDS = Histogram(
    "tsb_turn_seconds",
    "A turn, from holding the thread lock to the answer posted (or the failure reported)",
    ["persona"],
    buckets=SECONDS,
)
MODEL_SECONDS = Histogram(
    "tsb_model_call_seconds", "One model request (each retry counts)", ["persona"], buckets=SECONDS
)
FIRST_TEXT_SECONDS = Histogram(
    "tsb_first_text_seconds",
    "From a message (its Slack ts) to the first text of its answer visible in Slack",
    buckets=SECONDS,
)
APPROVALS = Counter(
    "tsb_approvals",
    "Tool approvals by persona and outcome: requested, approve, always, deny, expired, withdrawn",
    ["persona", "outcome"],
)
APPROVAL_WAIT_SECONDS = Histogram(
    "tsb_approval_wait_seconds",
    "From an approval request to its decision (or expiry): time waiting for a person",
    buckets=(1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600),
)
QUESTIONS = Counter(
    "tsb_tool_questions",
    "Tools' questions to a person by outcome: accept, decline, cancel, unroutable",
    ["server", "outcome"],
)
QUESTION_WAIT_SECONDS = Histogram(
    "tsb_tool_question_wait_seconds",
    "A tool's question: time waiting for a person",
    buckets=SECONDS,
)
LOCK_WAIT_SECONDS = Histogram(
    "tsb_lock_wait_seconds",
    "From a message (its Slack ts) to its turn starting under the thread lock",
    buckets=SECONDS,
)
TOKENS = Counter(
    "tsb_model_tokens",
    "Model tokens by persona and type (input, output, cache_read, cache_write)",
    ["persona", "type"],
)
UNKNOWN_TOOL = "unknown"  # the tool label of a call to a tool the persona does not have
TOOL_CALLS = Counter(
    "tsb_tool_calls",
    "Tool calls by persona, tool (one the persona has, else unknown) and status",
    ["persona", "tool", "status"],
)
ACCEPTED = Counter("tsb_messages_accepted", "Slack messages queued, by kind", ["kind"])
DEDUP_HITS = Counter(
    "tsb_dedup_hits",
    "Deliveries dropped as duplicates (Slack retries, app_mention + message), by kind",
    ["kind"],
)
LOCK_TAKEOVERS = Counter(
    "tsb_lock_takeovers",
    "Thread locks this process lost while "
    "running a turn (taken_over by another process, or expired)",
    ["reason"],
)
FENCING_REFUSALS = Counter(
    "tsb_fencing_refusals",
    "Session writes refused by storage because another holder wrote since (conditional put: 412)",
)
SLACK_CALLS = Counter(
    "tsb_slack_api_calls", "Slack Web API requests (each retry counts)", ["method"]
)
SLACK_ERRORS = Counter(
    "tsb_slack_api_errors",
    "Slack Web API errors by method and error (ratelimited = HTTP 429)",
    ["method", "error"],
)
S3_REQUESTS = Counter(
    "tsb_s3_requests",
    "S3 HTTP requests (each retry counts) by operation and status",
    ["operation", "status"],
)
FEEDBACK_VOTES = Counter(
    "tsb_feedback_votes",
    "Feedback clicks that counted (a first vote or a switch), by persona and vote",
    ["persona", "vote"],
)


def _age(job: Job) -> float:
    sent = message_time(job.ts)
    return max(0.0, time.time() - sent) if sent is not None else 0.0


class Turn:
    """One turn's clock: `Turn(persona, jobs)` when it starts, `done(outcome)` once."""

    def __init__(self, persona: str, jobs: list[Job]) -> None:
        self.persona, self.started = persona, time.monotonic()
        self.outcome: Outcome | None = None
        LOCK_WAIT_SECONDS.observe(_age(jobs[0]))

    def done(self, outcome: Outcome) -> None:
        if not self.outcome:
            self.outcome = outcome
            TURNS.labels(self.persona, outcome).inc()
            TURN_SECONDS.labels(self.persona).observe(time.monotonic() - self.started)


def first_text(job: Job) -> None:
    FIRST_TEXT_SECONDS.observe(_age(job))


def accepted(kind: JobKind, fresh: bool) -> None:
    (ACCEPTED if fresh else DEDUP_HITS).labels(kind).inc()


def approval(persona: str, outcome: str, waited: float) -> None:
    """An approval requested, or decided after `waited` seconds."""
    APPROVALS.labels(persona, outcome).inc()
    if outcome != "requested":
        APPROVAL_WAIT_SECONDS.observe(waited)


def question(server: str, outcome: str, waited: float) -> None:
    """A tool's question settled after `waited` seconds (or declined unasked)."""
    QUESTIONS.labels(server, outcome).inc()
    if outcome != "unroutable":
        QUESTION_WAIT_SECONDS.observe(waited)


def lock_lost(reason: LockLoss) -> None:
    LOCK_TAKEOVERS.labels(reason).inc()


def file_download(failure: str | None) -> None:
    """A file fetched from files.slack.com with the bot token (urllib, not the WebClient)."""
    SLACK_CALLS.labels("files.download").inc()
    if failure:
        SLACK_ERRORS.labels("files.download", failure).inc()


def fencing_refused() -> None:
    FENCING_REFUSALS.inc()


def vote(persona: str, which: str, outcome: str) -> None:
    if outcome != "repeated":
        FEEDBACK_VOTES.labels(persona, which).inc()


class AgentMetrics(HookProvider):
    """Strands hooks for one agent (one turn): model time, tokens and tool calls."""

    _USAGE: dict[UsageField, str] = {
        "inputTokens": "input",
        "outputTokens": "output",
        "cacheReadInputTokens": "cache_read",
        "cacheWriteInputTokens": "cache_write",
    }

    def __init__(self, persona: str) -> None:
        self.persona = persona
        self._model_started = 0.0
        self._counted: dict[str, int] = {}  # usage already counted (it accumulates per agent)

    def register_hooks(self, registry: HookRegistry, **kwargs: Any) -> None:
        registry.add_callback(BeforeModelCallEvent, self._before_model)
        registry.add_callback(AfterModelCallEvent, self._after_model)
        registry.add_callback(AfterToolCallEvent, self._after_tool)
        registry.add_callback(AfterInvocationEvent, self._after_invocation)

    def _before_model(self, event: BeforeModelCallEvent) -> None:
        self._model_started = time.monotonic()

    def _after_model(self, event: AfterModelCallEvent) -> None:
        MODEL_SECONDS.labels(self.persona).observe(time.monotonic() - self._model_started)

    def _after_tool(self, event: AfterToolCallEvent) -> None:
        """The tool label is one of the agent's own tools, else "unknown": the name comes
        from the model, and every distinct label value would be a new series."""
        status = "error" if event.exception or event.result.get("status") == "error" else "success"
        name = event.tool_use["name"]
        tool = name if name in event.agent.tool_registry.registry else UNKNOWN_TOOL
        TOOL_CALLS.labels(self.persona, tool, status).inc()

    def _after_invocation(self, event: AfterInvocationEvent) -> None:
        """Tokens from Strands' EventLoopMetrics (also after a failed invocation)."""
        usage = event.agent.event_loop_metrics.accumulated_usage
        for field, kind in self._USAGE.items():
            new = usage.get(field, 0) - self._counted.get(field, 0)
            if new > 0:
                TOKENS.labels(self.persona, kind).inc(new)
                self._counted[field] = self._counted.get(field, 0) + new


class SlackCalls(RetryHandler):
    """First of the WebClient's retry handlers: slack_sdk asks it about every response and
    connection error, so it counts each HTTP attempt; it never retries anything itself."""

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        method = request.url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        SLACK_CALLS.labels(method).inc()
        failure = _slack_error(response, error)
        if failure:
            SLACK_ERRORS.labels(method, failure).inc()
        return False


def _slack_error(response: HttpResponse | None, error: Exception | None) -> str:
    if response is None:
        return type(error).__name__ if error is not None else ""
    if response.status_code == 429:
        return "ratelimited"
    if response.status_code >= 400:
        return f"http_{response.status_code}"
    body = response.body or {}
    return "" if body.get("ok", True) else str(body.get("error") or "unknown")


def watch_s3(client: Any) -> None:
    """Count every HTTP request of this boto3 client (botocore's retries included) by
    operation and status, or the exception's name when there was no response."""
    client.meta.events.register("response-received.s3", _s3_response)


def _s3_response(
    event_name: str, response_dict: dict | None, exception: Exception | None, **kwargs: Any
) -> None:
    operation = event_name.rsplit(".", 1)[-1]
    status = str(response_dict["status_code"]) if response_dict else type(exception).__name__
    S3_REQUESTS.labels(operation, status).inc()
