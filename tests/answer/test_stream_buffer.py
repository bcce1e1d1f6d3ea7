"""The stream buffer (bot/answer/stream_buffer.py): tool calls queued as task cards, their
results completing them with the pages they cite, and cards closed when the model is done.
Events are what Strands' callback handler is given."""

from __future__ import annotations

import threading
from typing import Any

from slack_sdk.models.messages.chunk import TaskUpdateChunk

from bot.answer.stream_buffer import StreamBuffer
from tests.support.web_tools import DOCS, GOOD, HOSTILE


def tool_call(buffer: StreamBuffer, tool_id: str, name: str) -> None:
    buffer.on_event(current_tool_use={"toolUseId": tool_id, "name": name, "input": {}})


def tool_result(buffer: StreamBuffer, tool_id: str, content: list[Any], ok: bool = True) -> None:
    result = {"toolUseId": tool_id, "status": "success" if ok else "error", "content": content}
    buffer.on_event(message={"role": "user", "content": [{"toolResult": result}]})


def updates(buffer: StreamBuffer) -> list[dict[str, Any]]:
    chunks, _, _ = buffer.take(10_000)
    return [c.to_dict() for c in chunks if isinstance(c, TaskUpdateChunk)]


def test_a_result_citing_pages_completes_its_card_with_them_as_sources() -> None:
    buffer = StreamBuffer(threading.Event())
    tool_call(buffer, "t1", "web_search")
    tool_result(buffer, "t1", [{"text": f"see {DOCS}"}, {"json": {"u": [DOCS, GOOD]}}])
    started, done = updates(buffer)
    assert started == {
        "type": "task_update",
        "id": "t1",
        "title": "web_search",
        "status": "in_progress",
    }
    assert done["status"] == "complete" and done["sources"] == [
        {"type": "url", "url": DOCS, "text": "docs.example.com/streaming/answers"},
        {"type": "url", "url": GOOD, "text": "good.example.net/ok"},
    ]


def test_no_links_no_sources_and_hostile_links_are_dropped() -> None:
    buffer = StreamBuffer(threading.Event())
    tool_call(buffer, "t1", "calculator")
    tool_result(buffer, "t1", [{"text": "4"}])
    tool_call(buffer, "t2", "shady_page")
    tool_result(buffer, "t2", [{"text": " ".join(HOSTILE)}])
    tool_call(buffer, "t3", "failing")
    tool_result(buffer, "t3", [{"text": f"error fetching {DOCS}"}], ok=False)
    done = [u for u in updates(buffer) if u["status"] != "in_progress"]
    assert [(u["id"], u["status"], "sources" in u) for u in done] == [
        ("t1", "complete", False),
        ("t2", "complete", False),
        ("t3", "error", False),
    ]


def test_a_card_title_fits_the_chunk_limit() -> None:
    buffer = StreamBuffer(threading.Event())
    tool_call(buffer, "t1", "x" * 400)
    [card] = updates(buffer)
    assert len(card["title"]) <= 256


def test_cards_left_in_progress_are_closed_and_tool_calls_before_text_counted() -> None:
    buffer = StreamBuffer(threading.Event())
    tool_call(buffer, "t1", "web_search")
    tool_call(buffer, "t2", "fetch_page")
    tool_result(buffer, "t1", [{"text": "ok"}])
    buffer.on_event(data="Answer")
    tool_call(buffer, "t3", "calculator")
    assert (buffer.tools_first, buffer.wrote) == (2, True)
    buffer.finish_tasks("error")
    last = {u["id"]: u["status"] for u in updates(buffer)}
    assert last == {"t1": "complete", "t2": "error", "t3": "error"}
    buffer.finish_tasks("error")  # idempotent: nothing more to close
    assert updates(buffer) == []
