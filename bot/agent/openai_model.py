"""Strands' OpenAI model with one TLS context per process instead of one per request.

Strands opens a new `openai.AsyncOpenAI` client for every request (an httpx client is bound
to the event loop of the turn that made it, and every turn runs its own loop), and each new
httpx client loads the CA bundle into a new TLS context: about 0.8 MB and 30 ms per model
call, times every turn running at once. Here the per-request client is the same, but its
httpx client gets the process's shared context. Imported only when a persona uses OpenAI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import openai
from strands.models.openai import OpenAIModel

from bot.tls import httpx_context


class SharedTLSOpenAIModel(OpenAIModel):
    @asynccontextmanager
    async def _get_client(self) -> AsyncIterator[Any]:
        if self._custom_client is not None:  # an injected client: Strands' own behaviour
            async with super()._get_client() as client:
                yield client
            return
        args = dict(self._resolve_client_args())
        if "http_client" not in args:
            # what openai builds itself (timeouts, limits, redirects), on the shared context
            args["http_client"] = openai.DefaultAsyncHttpxClient(verify=httpx_context())
        async with openai.AsyncOpenAI(**args) as client:  # closes its http client too
            yield client
