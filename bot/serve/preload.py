"""Preload: the gunicorn master imports what its workers would, before it forks them.

Without it each worker imports and holds its own copy of about 100 MB of modules (Strands,
the provider's SDK, slack_bolt, redis, boto3). Imported once in the master, those pages are
shared copy-on-write by every worker; `gc.freeze()` moves the imported objects out of the
collector's reach, so a worker's collections do not write to (and so copy) them.

Only modules are imported: nothing is built (no client, connection, pool or thread may
cross a fork). Each worker still builds its runtime and runs the warm-up (bot/agent/warmup.py)
before it says it is ready. A module that fails to import here is left to the worker, which
reports it as it always did. As with gunicorn's own `preload_app`, new code needs a restart
of the master, not a SIGHUP.
"""

from __future__ import annotations

import gc
import importlib
import logging

from bot.config.settings import Config, ConfigError

log = logging.getLogger(__name__)


def preload_modules(config: Config) -> list[str]:
    """The app, and the model and tool modules of the providers and tools its personas use."""
    from bot.agent.model import provider_modules
    from bot.agent.personas import read_personas
    from bot.agent.tools import tool_module

    try:
        personas = read_personas(config)
    except ConfigError:  # the worker says so, once (bot.serve.main)
        personas = []
    providers = {persona.provider or config.model_provider for persona in personas}
    modules = ["bot.serve.web"]
    for provider in sorted(providers or {config.model_provider}):
        modules += provider_modules(provider)
    tools = {tool_module(name) for persona in personas for name in persona.tools}
    return modules + sorted(module for module in tools if module)


def preload(config: Config) -> list[str]:
    """Import `preload_modules(config)` and freeze what they allocated; return the imported."""
    imported = []
    for module in preload_modules(config):
        try:
            importlib.import_module(module)
            imported.append(module)
        except Exception as exc:  # the worker imports it again and reports the error
            log.debug("preload: %s not imported (%s)", module, exc)
    gc.freeze()
    return imported
