"""Warm-up: run one agent turn on a local model before the process says it is ready.

The first turn of a fresh process imports and initialises most of Strands (the event loop,
tool registry, conversation manager, telemetry), the model SDK's lazily loaded modules and
the storage client's first requests; without this the first user after a deploy waits
several times longer than the next one.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from strands import Agent
from strands.agent.conversation_manager import SlidingWindowConversationManager
from strands.models import Model

from bot.agent.model import warm_provider
from bot.agent.personas import Personas
from bot.store.sessions import SessionStore

log = logging.getLogger(__name__)


class _LocalModel(Model):
    """Answers "ok" without any network: exercises the agent loop, not a provider."""

    def update_config(self, **model_config: Any) -> None:
        pass

    def get_config(self) -> dict[str, Any]:
        return {}

    async def stream(
        self, messages: Any, tool_specs: Any = None, system_prompt: Any = None, **kwargs: Any
    ) -> AsyncGenerator[Any, None]:
        yield {"messageStart": {"role": "assistant"}}
        yield {"contentBlockStart": {"start": {}}}
        yield {"contentBlockDelta": {"delta": {"text": "ok"}}}
        yield {"contentBlockStop": {}}
        yield {"messageStop": {"stopReason": "end_turn"}}

    async def structured_output(
        self,
        output_model: type[Any],
        prompt: Any,
        system_prompt: str | None = None,
        **kwargs: Any,
    ) -> AsyncGenerator[dict[str, Any], None]:
        raise NotImplementedError
        yield  # pragma: no cover


def warm_up(personas: Personas, store: SessionStore) -> float:
    """Seconds spent; failures are logged, never fatal (the real turn will say more).

    One turn per persona runs on a throwaway session in the real store (created, committed
    and deleted: a handful of requests per start), so the storage client's first requests
    are paid here too."""
    started = time.perf_counter()
    session_id = f"warmup-{uuid.uuid4().hex}"
    try:
        store.snapshots_since()  # read once per process; new threads then skip a probe
        for persona in personas.all:
            personas.model(persona)  # built once per process, as turns use it
            warm_provider(persona.provider or personas.default_provider)
            manager = store.manager(session_id)
            agent = Agent(
                model=_LocalModel(),
                system_prompt=persona.system_prompt,
                tools=personas.tools(persona),
                callback_handler=None,
                agent_id=persona.id,
                session_manager=manager,
                conversation_manager=SlidingWindowConversationManager(window_size=40),
            )
            agent("warm up")
            manager.commit(agent)
    except Exception as exc:
        log.warning("warm-up failed (%s); the first turn will be slower", exc)
    finally:
        try:
            store.delete(session_id)
        except Exception as exc:
            log.warning("could not delete the warm-up session %s: %s", session_id, exc)
    return time.perf_counter() - started
