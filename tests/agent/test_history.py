"""history = "summarize": Strands' SummarizingConversationManager summarizes old messages with
the persona's own model before the prompt gets too big, and a restored agent (a restart,
another worker) sends the model exactly what the live agent that summarized would send."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import AsyncGenerator, Collection
from typing import Any

from strands.agent.conversation_manager import SummarizingConversationManager
from strands.agent.conversation_manager.compression.context_compression import (
    DEFAULT_SUMMARIZATION_PROMPT,
)
from strands.types.exceptions import ContextWindowOverflowException

from bot.agent.exchange import prompt_for
from bot.agent.personas import Persona, Personas
from bot.agent.turn import TurnResult, build_agent, run_turn
from bot.jobs import Job
from bot.store.memory_state import MemoryState
from bot.store.sessions import SessionStore
from tests.fakes.model import Scripted, ScriptedModel

SAM = Persona(
    id="sam",
    name="Sam",
    system_prompt="You are Sam.",
    tools=("calculator",),
    history="summarize",
    keep_recent=4,
    summarize_at=0.5,
)
CONTEXT_WINDOW = 600  # tokens: small, so that 30 turns fill half of it several times
TURNS = 30
SUMMARY = "reply to: Please summarize this conversation."  # the model's (default) summary
ANSWER = ("some words of the answer " * 4).strip()


class Model(ScriptedModel):
    """Reports the prompt's size (Strands' estimate) as its input tokens, as providers do:
    what proactive summarizing measures. Summary calls get the default reply, or fail (a
    provider error) while `failing`."""

    def __init__(self, replies: list[Scripted] = ()) -> None:
        super().__init__(
            replies,
            count_input_tokens=True,
            script_summaries=False,
            context_window_limit=CONTEXT_WINDOW,
        )
        self.failing = False

    async def stream(
        self, messages: Any, tool_specs: Any = None, system_prompt: Any = None, **kwargs: Any
    ) -> AsyncGenerator[Any, None]:
        if self.failing and system_prompt == DEFAULT_SUMMARIZATION_PROMPT:
            self.calls.append({"failed": copy.deepcopy(messages)})
            raise RuntimeError("the summary call was throttled")
        async for event in super().stream(messages, tool_specs, system_prompt, **kwargs):
            yield event


def job(text: str, ts: str) -> Job:
    return Job(kind="turn", team="T1", channel="C1", thread_ts="100.1", ts=ts, user="U1", text=text)


def personas(model: Model) -> Personas:
    loaded = Personas([SAM], "openai", None)
    loaded.use_model(SAM.id, model)
    return loaded


def script() -> list[Scripted]:
    """Answers of a few dozen tokens, with a tool call every fifth turn."""
    replies: list[Scripted] = []
    for i in range(TURNS):
        if i % 5 == 3:
            replies += [
                {"tool": "calculator", "input": {"expression": f"{i} * 2"}, "id": f"t{i}"},
                f"{i} * 2 is {i * 2}.",
            ]
        else:
            replies.append(f"answer {i}: {ANSWER}")
    return replies


def summarizing(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [call for call in calls if call.get("system_prompt") == DEFAULT_SUMMARIZATION_PROMPT]


def answering(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [call for call in calls if call.get("system_prompt") == SAM.system_prompt]


def turn(store: SessionStore, model: Model, message: Job, persona: Persona = SAM) -> TurnResult:
    lease = MemoryState().try_lease(message.session_id)
    assert lease is not None
    return run_turn(store, personas(model), persona, [message], lease)


def live_and_restored(store: SessionStore, failing_turns: Collection[int] = ()) -> Model:
    """One live agent answers every turn and writes the session; before each of its turns a
    brand-new agent is built on that session and sent the same message. Every model call of
    the turn (the summarizing ones included) must be the same, message for message."""
    live_model = Model(script())
    session = job("x", "0").session_id
    live, live_manager = build_agent(store, personas(live_model), SAM, session)
    for i in range(TURNS):
        message = job(f"question {i}", f"2.{i}")
        before = len(live_model.calls)
        fresh_model = Model(copy.deepcopy(live_model.replies))  # the replies the live one gets
        fresh_model.failing = live_model.failing = i in failing_turns
        fresh, fresh_manager = build_agent(store, personas(fresh_model), SAM, session)
        fresh(prompt_for([message]))
        fresh_manager.discard()  # a probe: only the live agent writes the session
        live(prompt_for([message]))
        live_manager.commit(live)  # as run_turn does after the model call
        assert fresh_model.calls == live_model.calls[before:], f"turn {i}"
    return live_model


def test_build_agent_summarizes_for_a_summarize_persona(store: SessionStore) -> None:
    agent, _ = build_agent(store, personas(Model()), SAM, job("x", "0").session_id)
    manager = agent.conversation_manager
    assert isinstance(manager, SummarizingConversationManager)
    assert manager.preserve_recent_messages == 4 and manager.summarization_agent is None


def test_restored_agent_sends_exactly_what_the_summarizing_live_agent_would(
    store: SessionStore,
) -> None:
    """The summary and the messages after it, the system prompt and the tools: all restored."""
    calls = live_and_restored(store).calls
    summaries = summarizing(calls)
    assert len(summaries) >= 2, "the history was never summarized (twice)"
    assert summaries[1]["messages"][0]["content"][0]["text"].startswith(SUMMARY)
    last = calls[-1]
    assert last["system_prompt"] == SAM.system_prompt
    assert last["messages"][0]["role"] == "user"
    assert last["messages"][0]["content"][0]["text"].startswith(SUMMARY)
    assert last["messages"][-1]["content"] == [{"text": f"question {TURNS - 1}"}]
    assert len(last["messages"]) < TURNS  # of 2 to 4 messages a turn: most are summarized


def test_restore_is_exact_after_a_failed_summary(store: SessionStore) -> None:
    """A summary call that fails leaves the history as it was, and the turn is answered."""
    calls = live_and_restored(store, failing_turns=range(8, 14)).calls
    failed = [index for index, call in enumerate(calls) if "failed" in call]
    assert failed, "no summary call failed"
    assert summarizing(calls[failed[-1] :]), "no summary was made after the failures"


def test_summarized_history_through_run_turn(store: SessionStore) -> None:
    """The bot's own path: every turn restores, the summary is made proactively (no overflow
    error) by the persona's model, answers and crash replays still find their prompt."""
    model = Model(script())
    results = [turn(store, model, job(f"question {i}", f"3.{i}")) for i in range(TURNS)]
    assert [r.text for r in results[:5]] == [
        f"answer 0: {ANSWER}",
        f"answer 1: {ANSWER}",
        f"answer 2: {ANSWER}",
        "3 * 2 is 6.",
        f"answer 4: {ANSWER}",
    ]
    assert results[13].tools == ("calculator",) and results[14].tools == ()
    assert len(summarizing(model.calls)) >= 2
    assert all(call["tool_specs"] is None for call in summarizing(model.calls))
    assert all(len(call["messages"]) < TURNS for call in answering(model.calls))
    assert answering(model.calls)[-1]["messages"][0]["content"][0]["text"].startswith(SUMMARY)
    # The last answer committed but never posted (a crash): replayed from the session.
    replay = turn(store, model, job(f"question {TURNS - 1}", f"3.{TURNS - 1}"))
    assert replay.replayed and replay.text == results[-1].text


def test_an_overflow_error_is_answered_after_summarizing(store: SessionStore) -> None:
    """Below `summarize_at` nothing is summarized; a context overflow error summarizes too."""
    model = Model([f"answer {i}" for i in range(4)])
    for i in range(4):
        turn(store, model, job(f"question {i}", f"4.{i}"))
    assert not summarizing(model.calls)
    model.add_replies(ContextWindowOverflowException("prompt is too long"), "after the summary")
    result = turn(store, model, job("question 4", "4.4"))
    assert result.text == "after the summary"
    retried = model.calls[-1]["messages"]
    assert retried[0]["content"][0]["text"].startswith(SUMMARY)
    assert retried[-1]["content"] == [{"text": "question 4"}]
    turn(store, model, job("question 5", "4.5"))  # restored: the summary, then the rest
    assert model.calls[-1]["messages"][: len(retried)] == retried


def test_changing_a_personas_history_keeps_its_threads(store: SessionStore) -> None:
    """Strands refuses to restore the state another conversation manager stored: a thread
    answered before `history` changed goes on with what it had (back to "window", the
    summary stays as the window's first message until the window drops it) instead of
    failing every turn."""
    window = dataclasses.replace(SAM, history="window")
    model = Model()
    for i in range(3):
        turn(store, model, job(f"question {i}", f"5.{i}"), window)
    as_window = answering(model.calls)[-1]["messages"]
    turn(store, model, job("question 3", "5.3"))
    assert answering(model.calls)[-1]["messages"][:-2] == as_window
    for i in range(4, TURNS):
        turn(store, model, job(f"question {i}", f"5.{i}"))
        if summarizing(model.calls):
            break
    i += 1
    summarized = answering(model.calls)[-1]["messages"]
    assert summarized[0]["content"][0]["text"].startswith(SUMMARY)
    result = turn(store, model, job(f"question {i}", f"5.{i}"), window)
    assert answering(model.calls)[-1]["messages"][: len(summarized)] == summarized
    assert result.text.startswith(f"reply to: question {i}")
