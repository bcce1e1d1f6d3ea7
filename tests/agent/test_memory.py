"""Memory: a process imports only the provider SDK its personas use, model calls share one
TLS context instead of building one (~0.8 MB, ~30 ms) per request, and a turn's agent is
freed when its answer is delivered, not at some later cyclic collection."""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest
from strands import Agent

from bot import tls
from bot.agent.model import build_model, provider_modules
from bot.agent.personas import load_personas
from bot.answer.stream import AnswerStream
from bot.config import settings as config_module
from bot.serve.preload import preload_modules
from bot.slack.clients import slack_client
from tests.fakes.model import ScriptedModel
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.support.bot import settle

ROOT = Path(__file__).resolve().parent.parent.parent
SDKS = ("openai", "anthropic", "strands.models.openai", "strands.models.anthropic")
# What a web master preloads (bot/serve/preload.py), then what its workers build before they say
# they are ready, short of Redis and Slack.
START = """
import json, sys
from bot.config import settings as config
from bot.agent.model import warm_provider
from bot.agent.personas import load_personas
from bot.serve.preload import preload
settings = config.load()
preload(settings)
preloaded = set(sys.modules)
personas = load_personas(settings)
for persona in personas.all:
    warm_provider(persona.provider or personas.default_provider)
print(json.dumps({{"sdks": sorted(name for name in {sdks!r} if name in sys.modules),
                  "after_preload": sorted(name for name in set(sys.modules) - preloaded
                                          if name.split(".")[0] not in sys.stdlib_module_names)}}))
"""


EXPECTED = {
    "openai": ["openai", "strands.models.openai"],
    "anthropic": ["anthropic", "strands.models.anthropic"],
    "bedrock": [],
}


def test_a_process_imports_only_its_providers_sdk_and_the_master_preloads_it(
    tmp_path: Path,
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "OPENAI_API_KEY": "k",
        "ANTHROPIC_API_KEY": "k",
        "AWS_DEFAULT_REGION": "us-east-1",
        "SESSION_DIR": str(tmp_path / "sessions"),
    }
    started = {
        provider: subprocess.Popen(  # at once: each is a fresh interpreter
            [sys.executable, "-c", START.format(sdks=SDKS)],
            cwd=tmp_path,
            text=True,
            env={**env, "MODEL_PROVIDER": provider},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for provider in EXPECTED
    }
    for provider, proc in started.items():
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        found = json.loads(out.splitlines()[-1])
        assert found["sdks"] == EXPECTED[provider], provider
        # the workers share what the master imported: no package of their own
        assert found["after_preload"] == [], provider


def test_openai_requests_share_one_tls_context(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    model = build_model("openai", None)

    async def contexts() -> list[object]:
        seen = []
        for _ in range(2):  # Strands opens a client per request
            async with model._get_client() as client:
                seen.append(client._client._transport._pool._ssl_context)
        return seen

    first, second = asyncio.run(contexts())
    assert first is second is tls.httpx_context()
    answer = Agent(model=model, callback_handler=None)("hello")
    assert str(answer).startswith("echo: hello")


def test_slack_calls_share_one_tls_context() -> None:
    config = config_module.load({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"})
    client = slack_client(config)
    assert client.ssl is slack_client(config).ssl is tls.default_context()
    assert copy.deepcopy(client).ssl is client.ssl  # Bolt copies it for lazy listeners


@pytest.mark.parametrize("streaming", ["on", "off"])
def test_a_turn_leaves_no_agent_behind(make_bot, fake_slack: FakeSlack, streaming: str) -> None:
    bot = make_bot(ScriptedModel(["hello there"]), redis=False, STREAMING=streaming)
    gc.collect()
    gc.disable()  # what outlives the turn now lives until a cyclic collection
    try:
        root = bot.mention("hi")
        fake_slack.wait_for(
            "chat.update" if streaming == "on" else "chat.postMessage",
            lambda call: call.params.get("thread_ts", root["ts"]) == root["ts"],
        )
        settle(bot)
        left = [type(o).__name__ for o in gc.get_objects() if isinstance(o, Agent | AnswerStream)]
    finally:
        gc.enable()
    assert left == []


def test_the_master_preloads_what_the_personas_use(tmp_path: Path) -> None:
    personas = tmp_path / "personas.toml"
    personas.write_text(
        '[[persona]]\nid = "a"\nsystem_prompt = "x"\ntools = ["calculator"]\n'
        '[[persona]]\nid = "b"\nsystem_prompt = "y"\nprovider = "anthropic"\n'
        'tools = ["http_request"]\n'
    )
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "MODEL_PROVIDER": "openai"}
    modules = preload_modules(config_module.load({**env, "PERSONAS_FILE": str(personas)}))
    assert modules[0] == "bot.serve.web" and "strands_tools.http_request" in modules
    assert {*provider_modules("openai"), *provider_modules("anthropic")} <= set(modules)
    assert not set(provider_modules("bedrock")) & set(modules)
    personas.write_text('[[persona]]\nid = "Not Valid!"\nsystem_prompt = "x"\n')  # the worker
    broken = preload_modules(config_module.load({**env, "PERSONAS_FILE": str(personas)}))
    assert broken == ["bot.serve.web", *provider_modules("openai")]  # says what is wrong


def test_bedrock_personas_share_one_boto3_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session per model loads botocore's data again: 4 personas took 34 MB, now 10."""
    for name, value in (
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ):
        monkeypatch.setenv(name, value)
    personas = tmp_path / "personas.toml"
    personas.write_text(
        '[[persona]]\nid = "a"\nsystem_prompt = "x"\n[[persona]]\nid = "b"\nsystem_prompt = "y"\n'
    )
    loaded = load_personas(
        config_module.load(
            {
                "SLACK_BOT_TOKEN": "xoxb-1",
                "SLACK_SIGNING_SECRET": "s",
                "MODEL_PROVIDER": "bedrock",
                "PERSONAS_FILE": str(personas),
            }
        )
    )
    first, second = (loaded.model(persona).client for persona in loaded.all)
    assert first is not second and first._loader is second._loader
