"""The bot's processes for chaos tests and scripts/soak.py, and an S3 proxy like S3.

- `Cluster`: N real bot processes (gunicorn, as in the Procfile) that can be SIGKILLed (whole
  process group, or only the gunicorn worker so the master boots a new one), SIGTERMed and
  restarted while traffic flows. Each process gets its own MODEL_ID, so every model request
  recorded by FakeOpenAI says which process made it.
- `ContinueProxy`: the fault-injecting S3 proxy, answering `Expect: 100-continue`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.fakes._http import ServerThread
from tests.fakes.s3_server import FaultyProxy, _ProxyHandler
from tests.support.bot_process import BotProcess
from tests.support.chaos_tokens import model_id


# --- S3 ------------------------------------------------------------------------------
class _ContinueHandler(_ProxyHandler):
    protocol_version = "HTTP/1.1"  # so http.server answers `Expect: 100-continue`


class ContinueProxy(FaultyProxy):
    """FaultyProxy that answers `Expect: 100-continue` as S3 does. FaultyProxy speaks
    HTTP/1.0, so botocore waits 1 s for the 100 before sending each PUT body: every commit
    and session creation through it takes seconds longer than against S3."""

    def __init__(self, target_url: str) -> None:
        super().__init__(target_url)
        self._thread = ServerThread(_ContinueHandler, self)


# --- processes -------------------------------------------------------------------------
class Cluster:
    """`size` bot processes on one Redis/S3/Slack/OpenAI; slots are killed and refilled."""

    LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def __init__(self, env: dict[str, str], log_dir: Path, size: int) -> None:
        self.env = env
        self.log_dir = log_dir
        self.size = size
        self.slots: list[BotProcess] = []
        self.every: list[BotProcess] = []  # all processes ever started (teardown, logs)
        self.events: list[tuple[float, str, str]] = []  # (time.time(), action, process)
        self._ready: set[str] = set()  # names of processes taking traffic
        self._lock = threading.Lock()
        self._generation = itertools.count()

    def _spawn(self, slot: int) -> BotProcess:
        name = f"{self.LETTERS[slot]}{next(self._generation)}"
        bot = BotProcess(name, {**self.env, "MODEL_ID": model_id(name)}, self.log_dir)
        with self._lock:
            self.every.append(bot)
        return bot.start()

    def start(self) -> Cluster:
        self.slots = [self._spawn(i) for i in range(self.size)]
        for bot in self.slots:
            bot.wait_ready()
            self._mark(bot, True)
        return self

    def _mark(self, bot: BotProcess, ready: bool) -> None:
        with self._lock:
            (self._ready.add if ready else self._ready.discard)(bot.name)

    def live(self) -> list[BotProcess]:
        with self._lock:
            return [b for b in self.slots if b.name in self._ready]

    def by_model(self, model: str) -> BotProcess | None:
        with self._lock:
            return next((b for b in self.every if model_id(b.name) == model), None)

    def log(self, action: str, bot: BotProcess) -> None:
        with self._lock:
            self.events.append((time.time(), action, bot.name))

    def kill(
        self, slot: int, mode: str = "group", then: Callable[[], None] | None = None
    ) -> BotProcess:
        """SIGKILL slot's process ("group": master + worker, then a new process on a new
        port; "worker": the gunicorn worker only, the master boots a new one), call `then`
        once it is dead, and wait until the slot serves again; returns the slot's process."""
        bot = self.slots[slot]
        self._mark(bot, False)
        if mode == "worker":
            killed = bot.kill_worker()
            self.log(f"SIGKILL worker {killed}", bot)
            if then is not None:
                then()
            bot.wait_ready()
            self._mark(bot, True)
            return bot
        bot.kill()
        self.log("SIGKILL group", bot)
        if then is not None:
            then()
        return self.refill(slot)

    def refill(self, slot: int) -> BotProcess:
        new = self._spawn(slot)
        with self._lock:
            self.slots[slot] = new
        new.wait_ready()
        self._mark(new, True)
        self.log("started", new)
        return new

    def terminate(self, slot: int, timeout: float = 35.0) -> tuple[int | None, float]:
        """SIGTERM slot's process; (exit code or None if still running, seconds taken)."""
        bot = self.slots[slot]
        self._mark(bot, False)
        started = time.monotonic()
        bot.terminate()
        self.log("SIGTERM", bot)
        code = bot.wait_exit(timeout)
        return code, time.monotonic() - started

    def cleanup(self) -> None:
        with self._lock:
            every = list(self.every)
        for bot in every:
            bot.terminate()  # all at once: each needs a moment to drain
        for bot in every:
            bot.cleanup()

    def log_tails(self, chars: int = 3000) -> str:
        return "\n".join(bot.log_tail(chars) for bot in self.every)


MakeCluster = Callable[..., Cluster]
