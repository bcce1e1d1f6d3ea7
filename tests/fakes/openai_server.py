"""A deterministic OpenAI-compatible chat-completions server."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._http import QuietHandler, ServerThread

# A reply is either text, or {"tool": name, "input": {...}} to answer with a tool call.
Reply = str | dict[str, Any]


@dataclass
class Request:
    body: dict[str, Any]
    started: float
    finished: float = 0.0
    status: int = 200


def message_text(message: dict[str, Any]) -> str:
    """Text of an OpenAI chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def default_reply(body: dict[str, Any]) -> str:
    messages = [m for m in body.get("messages", []) if m.get("role") != "system"]
    users = [m for m in messages if m.get("role") == "user"]
    last = message_text(users[-1]) if users else ""
    return f"echo: {last} [{len(messages)} msgs]"


class _OpenAIHandler(QuietHandler):
    def do_POST(self) -> None:
        fake: FakeOpenAI = self.server.owner
        raw = self.read_body()
        if self.path.split("?")[0].rstrip("/") != "/v1/chat/completions":
            self.send_json(
                404, {"error": {"message": "not found", "type": "invalid_request_error"}}
            )
            return
        body = json.loads(raw or b"{}")
        req = fake._begin(body)
        try:
            fake._wait(req)
            fault = fake._take_fault()
            if fault is not None:
                req.status = fault
                self._send_error(fault, fake.should_retry)
                return
            reply = fake.reply_fn(body)
            if body.get("stream"):
                self._stream(fake, body, reply)
            else:
                self.send_json(200, fake._completion(body, reply))
        finally:
            fake._end(req)

    def _send_error(self, status: int, should_retry: bool | None) -> None:
        kind = "rate_limit_exceeded" if status == 429 else "server_error"
        headers = {"retry-after-ms": "10"}
        if should_retry is not None:
            headers["x-should-retry"] = "true" if should_retry else "false"
        err = {"message": f"injected fault {status}", "type": kind, "param": None, "code": kind}
        self.send_json(status, {"error": err}, headers)

    def _stream(self, fake: FakeOpenAI, body: dict[str, Any], reply: Reply) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for index, chunk in enumerate(fake._chunks(body, reply)):
            if index and fake.chunk_delay:
                time.sleep(fake.chunk_delay)  # a provider producing tokens over time
            self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


class FakeOpenAI:
    """OpenAI-compatible server: `OpenAIModel(client_args={"base_url": fake.base_url, ...})`."""

    def __init__(self, reply_fn: Callable[[dict[str, Any]], Reply] = default_reply) -> None:
        self.reply_fn = reply_fn
        self.delay = 0.0
        self.block_until: threading.Event | None = None
        self.chunk_delay = 0.0  # seconds between streamed chunks
        self.should_retry: bool | None = None  # sets x-should-retry on injected errors
        self.requests: list[Request] = []
        self.max_concurrent = 0
        self._in_flight = 0
        self._faults: list[int] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._thread = ServerThread(_OpenAIHandler, self)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._thread.port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.block_until is not None:
            self.block_until.set()
        self._thread.stop()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, times: int = 1, status: int = 500) -> None:
        """Answer the next `times` requests with an OpenAI-style error (after `delay`)."""
        with self._lock:
            self._faults.extend([status] * times)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self.max_concurrent = self._in_flight

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.body for r in self.requests]

    def overlaps(self, key_fn: Callable[[dict[str, Any]], Any]) -> list[tuple[Request, Request]]:
        """Pairs of requests with equal key_fn(body) whose [started, finished] intervals overlap."""
        with self._lock:
            done = [r for r in self.requests if r.finished]
        pairs = []
        for i, a in enumerate(done):
            for b in done[i + 1 :]:
                if (
                    key_fn(a.body) == key_fn(b.body)
                    and a.started < b.finished
                    and b.started < a.finished
                ):
                    pairs.append((a, b))
        return pairs

    # --- internals ---------------------------------------------------------
    def _begin(self, body: dict[str, Any]) -> Request:
        req = Request(body=body, started=time.monotonic())
        with self._lock:
            self.requests.append(req)
            self._in_flight += 1
            self.max_concurrent = max(self.max_concurrent, self._in_flight)
        return req

    def _end(self, req: Request) -> None:
        with self._lock:
            req.finished = time.monotonic()
            self._in_flight -= 1

    def _wait(self, req: Request) -> None:
        if self.delay > 0:
            time.sleep(self.delay)
        gate = self.block_until
        if gate is not None:
            gate.wait()

    def _take_fault(self) -> int | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    @staticmethod
    def _usage(body: dict[str, Any], reply: Reply) -> dict[str, int]:
        prompt = sum(len(message_text(m).split()) + 1 for m in body.get("messages", []))
        out = len(reply.split()) if isinstance(reply, str) else len(json.dumps(reply)) // 4
        return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}

    def _tool_call(self, reply: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"call_{next(self._ids)}",
            "type": "function",
            "function": {"name": reply["tool"], "arguments": json.dumps(reply.get("input", {}))},
        }

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None}
        finish = "stop"
        if isinstance(reply, dict):
            message["tool_calls"] = [self._tool_call(reply)]
            finish = "tool_calls"
        else:
            message["content"] = reply
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": self._usage(body, reply),
        }

    def _chunks(self, body: dict[str, Any], reply: Reply) -> list[dict[str, Any]]:
        cid, created = f"chatcmpl-{next(self._ids)}", int(time.time())
        model = body.get("model", "fake")

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": choices,
                **extra,
            }

        def delta(d: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return chunk([{"index": 0, "delta": d, "finish_reason": finish}])

        out = [delta({"role": "assistant", "content": ""})]
        if isinstance(reply, dict):
            call = self._tool_call(reply)
            args = call["function"].pop("arguments")
            out.append(
                delta(
                    {
                        "tool_calls": [
                            {"index": 0, **call, "function": {**call["function"], "arguments": ""}}
                        ]
                    }
                )
            )
            out.append(delta({"tool_calls": [{"index": 0, "function": {"arguments": args}}]}))
            finish = "tool_calls"
        else:
            # Split into a few pieces (keeping the whitespace) so clients see real streaming.
            pieces = [p for p in reply.replace(" ", " \0").split("\0") if p] or [""]
            out.extend(delta({"content": p}) for p in pieces)
            finish = "stop"
        out.append(delta({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            out.append(chunk([], usage=self._usage(body, reply)))
        return out
