"""Agent turns on real session stores: memory, restore fidelity, personas, failures, crashes."""

from __future__ import annotations

import copy

import pytest
from strands import Agent
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.types.session import SessionMessage

from bot.agent.exchange import prompt_for
from bot.agent.personas import Persona, Personas
from bot.agent.tools import calculator
from bot.agent.turn import WINDOW_SIZE, TurnInputs, restore, run_turn
from bot.jobs import Job
from bot.store.memory_state import MemoryState
from bot.store.sessions import SessionStore
from bot.store.thread_lock import LeaseLost
from tests.fakes.model import ScriptedModel
from tests.store.old_layout import old_manager, old_worker_turns
from tests.support.web_tools import DOCS, GOOD, GUIDE

ALICE = Persona(id="alice", name="Alice", system_prompt="You are Alice.", tools=("calculator",))
BOB = Persona(id="bob", name="Bob", system_prompt="You are Bob.")


def job(text: str, ts: str, thread: str = "100.1") -> Job:
    return Job(kind="turn", team="T1", channel="C1", thread_ts=thread, ts=ts, user="U1", text=text)


def personas(model: ScriptedModel) -> Personas:
    loaded = Personas([ALICE, BOB], "openai", None)
    loaded.use_model("alice", model)
    loaded.use_model("bob", model)
    return loaded


def turn(store: SessionStore, loaded: Personas, persona: Persona, *jobs: Job):
    lease = MemoryState().try_lease(jobs[0].session_id)
    assert lease is not None
    return run_turn(store, loaded, persona, list(jobs), lease)


def test_second_turn_sees_first(store: SessionStore) -> None:
    model = ScriptedModel()
    loaded = personas(model)
    first = turn(store, loaded, ALICE, job("my name is Ada", "1.1"))
    turn(store, loaded, ALICE, job("what is my name?", "1.2"))
    sent = model.calls[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == [{"text": "my name is Ada"}]
    assert sent[1]["content"][0]["text"] == first.text
    assert model.calls[-1]["system_prompt"] == "You are Alice."


def test_restored_agent_sends_exactly_what_a_live_one_would(store: SessionStore) -> None:
    """Many turns (past the sliding window, with tool calls): restore == live, every turn."""
    script = []
    for i in range(30):
        if i % 7 == 3:
            tool_call = {"tool": "calculator", "input": {"expression": f"{i} * 2"}}
            script += [tool_call, f"tool turn {i}"]
        else:
            script.append(f"answer {i}")
    restored_model, live_model = ScriptedModel(copy.deepcopy(script)), ScriptedModel(script)
    loaded = personas(restored_model)
    live = Agent(
        model=live_model,
        system_prompt=ALICE.system_prompt,
        tools=[calculator],
        conversation_manager=SlidingWindowConversationManager(window_size=WINDOW_SIZE),
        callback_handler=None,
    )
    for i in range(30):
        message = job(f"question {i}", f"2.{i}")
        turn(store, loaded, ALICE, message)
        live(prompt_for([message]))
        assert len(restored_model.calls) == len(live_model.calls)
        assert restored_model.calls[-1]["messages"] == live_model.calls[-1]["messages"], i
    assert len(live_model.calls[-1]["messages"]) <= WINDOW_SIZE + 1  # the window did slide


def test_personas_keep_separate_memories(store: SessionStore) -> None:
    model = ScriptedModel()
    loaded = personas(model)
    turn(store, loaded, ALICE, job("secret for alice", "3.1"))
    turn(store, loaded, BOB, job("hello bob", "3.2"))
    bob_sees = model.calls[-1]["messages"]
    assert len(bob_sees) == 1 and "secret" not in str(bob_sees)
    assert model.calls[-1]["system_prompt"] == "You are Bob."
    turn(store, loaded, ALICE, job("what did I tell you?", "3.3"))
    alice_sees = model.calls[-1]["messages"]
    assert "secret for alice" in str(alice_sees) and "hello bob" not in str(alice_sees)


def test_model_error_leaves_history_valid(store: SessionStore) -> None:
    model = ScriptedModel(["first answer", RuntimeError("model exploded")])
    loaded = personas(model)
    turn(store, loaded, ALICE, job("one", "4.1"))
    with pytest.raises(RuntimeError, match="exploded"):
        turn(store, loaded, ALICE, job("two", "4.2"))
    turn(store, loaded, ALICE, job("three", "4.3"))
    sent = model.calls[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[-1]["content"] == [{"text": "three"}]


def test_old_layout_with_an_interrupted_turn_is_migrated(store: SessionStore) -> None:
    """An old worker stored a turn, then died after writing the next user message and a
    tool call (Strands' message log writes each message at once): the first turn on the
    new release restores the complete turn, drops the interrupted one, and migrates."""
    sid = job("x", "0").session_id
    old_worker_turns(store, sid, "alice", "one")
    manager = old_manager(store, sid)
    for index, message in enumerate(
        [
            {
                "role": "user",
                "content": [{"text": "two"}],
                "metadata": {"custom": {"slack_ts": ["5.2"]}},
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "toolUse": {
                            "toolUseId": "t1",
                            "name": "calculator",
                            "input": {"expression": "1+1"},
                        }
                    }
                ],
            },
        ],
        start=2,
    ):
        manager.session_repository.create_message(
            sid, "alice", SessionMessage.from_message(message, index)
        )
    model = ScriptedModel()
    loaded = personas(model)
    turn(store, loaded, ALICE, job("two", "5.2"))  # the unanswered message, re-run
    sent = model.calls[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert [m["content"] for m in sent if m["role"] == "user"] == [
        [{"text": "one"}],
        [{"text": "two"}],
    ]
    assert not list(store.blobs.keys(f"session_{sid}/agents/"))  # the old layout is gone
    turn(store, loaded, ALICE, job("three", "5.3"))
    assert [m["role"] for m in model.calls[-1]["messages"]] == ["user", "assistant"] * 2 + ["user"]


def test_committed_but_unposted_turn_is_replayed_without_a_model_call(store: SessionStore) -> None:
    model = ScriptedModel(["the answer"])
    loaded = personas(model)
    first = turn(store, loaded, ALICE, job("q", "6.1"), job("q2", "6.2"))
    again = turn(store, loaded, ALICE, job("q", "6.1"), job("q2", "6.2"))
    assert (first.text, first.answered, first.replayed) == ("the answer", 2, False)
    assert (again.text, again.answered, again.replayed) == ("the answer", 2, True)
    assert len(model.calls) == 1
    # A message that arrived meanwhile is not swallowed by the replay: it is answered next.
    replay = turn(store, loaded, ALICE, job("q", "6.1"), job("q2", "6.2"), job("new", "6.3"))
    assert (replay.answered, replay.replayed) == (2, True)
    fresh = turn(store, loaded, ALICE, job("new", "6.3"))
    assert not fresh.replayed and model.calls[-1]["messages"][-1]["content"] == [{"text": "new"}]


def test_lost_lease_writes_nothing(store: SessionStore) -> None:
    model = ScriptedModel()
    loaded = personas(model)
    state = MemoryState()
    lease = state.try_lease(job("a", "7.1").session_id)
    assert lease is not None
    lease.lost.set()
    with pytest.raises(LeaseLost):
        run_turn(store, loaded, ALICE, [job("a", "7.1")], lease)
    turn(store, loaded, ALICE, job("b", "7.2"))
    assert model.calls[-1]["messages"] == [{"role": "user", "content": [{"text": "b"}]}]


def test_a_stored_answer_replay_covers_exactly_its_jobs_wherever_they_sit(
    store: SessionStore,
) -> None:
    """A message held during a Redis outage is queued ahead of an interrupted turn's jobs
    (by message time): the replay answers exactly those jobs, never the inserted one."""
    model = ScriptedModel(["the answer"])
    loaded = personas(model)
    turn(store, loaded, ALICE, job("q", "7.2"), job("q2", "7.3"))
    held, q, q2 = job("held", "7.1"), job("q", "7.2"), job("q2", "7.3")
    replay = turn(store, loaded, ALICE, held, q, q2)
    assert replay.replayed and replay.done == (q, q2) and len(model.calls) == 1


def test_restore_tells_history_and_the_inputs_come_before_the_messages(
    store: SessionStore,
) -> None:
    model = ScriptedModel()
    loaded = personas(model)
    first = job("hello", "8.1")
    assert not restore(store, loaded, ALICE, [first]).has_history
    inputs = TurnInputs(preamble=("Earlier in the thread: ...", "Other apps posted: ..."))
    turn_result = run_turn(store, loaded, ALICE, [first], lease_for(first), inputs=inputs)
    assert model.calls[-1]["messages"][-1]["content"] == [
        {"text": "Earlier in the thread: ..."},
        {"text": "Other apps posted: ..."},
        {"text": "hello"},
    ]
    again = restore(store, loaded, ALICE, [first])
    assert again.has_history and again.stored is not None
    assert again.stored.text == turn_result.text and again.stored.replayed
    assert not restore(store, loaded, ALICE, [job("next", "8.2")]).stored


def lease_for(message: Job):
    lease = MemoryState().try_lease(message.session_id)
    assert lease is not None
    return lease


WEB = Persona(
    id="web", name="Web", system_prompt="You look.", tools=("tests.support.web_tools", "calculator")
)


def test_a_turn_names_the_pages_its_tools_cited_and_its_replay_too(store: SessionStore) -> None:
    model = ScriptedModel(
        [
            {"tool": "shady_page", "input": {"query": "x"}},
            {"tool": "web_search", "input": {"query": "y"}},
            {"tool": "calculator", "input": {"expression": "1+1"}},
            "the answer",
        ]
    )
    loaded = Personas([WEB], "openai", None)
    loaded.use_model("web", model)
    first = turn(store, loaded, WEB, job("look", "8.1"))
    assert first.tools == ("shady_page", "web_search", "calculator")
    assert [s.url for s in first.sources] == [GOOD, DOCS, GUIDE]  # hostile links dropped
    again = turn(store, loaded, WEB, job("look", "8.1"))  # committed, not posted: replayed
    assert again.replayed and again.sources == first.sources and len(model.calls) == 4
    model.add_replies("no tools this time")
    later = turn(store, loaded, WEB, job("thanks", "8.2"))
    assert (later.tools, later.sources) == ((), ())  # only this turn's tools count
