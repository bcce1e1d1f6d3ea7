"""Personas: who the bot can be. Each persona is its own agent_id inside a thread session."""

from __future__ import annotations

import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from strands.models import Model

from bot.agent.mcp import McpServers, McpTools
from bot.agent.mcp_config import McpServerConfig, mcp_servers
from bot.agent.model import build_model
from bot.agent.tool_budget import ToolLimits
from bot.agent.tools import resolve_tools
from bot.config.settings import PROVIDERS, Config, ConfigError, Provider

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# "window": drop the oldest messages; "summarize": the model summarizes them
History = Literal["window", "summarize"]
HISTORY_MODES: tuple[History, ...] = get_args(History)


@dataclass(frozen=True)
class Persona:
    id: str
    name: str
    system_prompt: str
    provider: Provider | None = None
    model_id: str | None = None
    tools: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    only_in_channels: bool = False  # True: never used outside `channels`
    icon_emoji: str | None = None
    icon_url: str | None = None
    description: str = ""  # one line, shown by `help`
    prompts: tuple[str, ...] = ()  # suggested prompts in the bot's DM / agent view
    history: History = "window"
    keep_recent: int = 10  # summarize: the latest messages are never summarized
    summarize_at: float = 0.7  # summarize: when the prompt fills this much of the context window
    mcp: tuple[McpServerConfig, ...] = ()  # its MCP servers (bot/agent/mcp.py)
    approve: tuple[str, ...] = ()  # tools a person approves first (bot/agent/approvals.py)
    approve_always: bool = False  # offer "Always in this thread" on approval requests


@dataclass
class Personas:
    all: list[Persona]
    default_provider: Provider
    default_model_id: str | None
    tool_limits: ToolLimits = field(default_factory=ToolLimits)  # every tool call's budget
    approval_timeout: float = 86_400.0  # APPROVAL_TIMEOUT_SECONDS
    question_timeout: float = 600.0  # ELICITATION_TIMEOUT_SECONDS: a tool's question
    _models: dict[str, Model] = field(default_factory=dict)
    _tools: dict[str, list[Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _mcp: McpServers | None = None

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.all]

    @property
    def several(self) -> bool:
        return len(self.all) > 1

    def get(self, persona_id: str | None) -> Persona | None:
        return next((p for p in self.all if p.id == persona_id), None)

    def default_for(self, channel: str) -> Persona | None:
        """The persona answering unaddressed messages in `channel`: the first that lists it,
        else the first allowed everywhere (None: every persona is kept to other channels)."""
        listed = next((p for p in self.all if channel in p.channels), None)
        return listed or next((p for p in self.all if not p.only_in_channels), None)

    def choose(
        self, channel: str, wanted: str | None, sticky: str | None
    ) -> tuple[Persona | None, str]:
        """The persona for a message in `channel` that addresses `wanted` (or none) in a
        thread whose current persona is `sticky`; None and the reason to tell the asker
        when no persona may answer there. A persona with `only_in_channels` is used only in
        its `channels`, however it is asked for."""
        addressed = self.get(wanted)
        if addressed is not None and not self.allowed_in(addressed, channel):
            return None, (
                f":no_entry: {addressed.name} only answers in its own channels, "
                "so it did not answer this here."
            )
        current = self.get(sticky)
        if current is not None and not self.allowed_in(current, channel):
            current = None
        chosen = addressed or current or self.default_for(channel)
        if chosen is None:
            return (
                None,
                ":no_entry: No persona answers in this channel: each only answers in "
                "its own channels.",
            )
        return chosen, ""

    @staticmethod
    def allowed_in(persona: Persona, channel: str) -> bool:
        return not persona.only_in_channels or channel in persona.channels

    def model(self, persona: Persona) -> Model:
        with self._lock:
            if persona.id not in self._models:
                provider = persona.provider or self.default_provider
                # The global MODEL_ID belongs to MODEL_PROVIDER; another provider gets its default.
                fallback = self.default_model_id if provider == self.default_provider else None
                self._models[persona.id] = build_model(provider, persona.model_id or fallback)
            return self._models[persona.id]

    def use_model(self, persona_id: str, model: Model) -> None:
        """Pin a model instance for a persona (tests, or an embedding application)."""
        with self._lock:
            self._models[persona_id] = model

    def tools(self, persona: Persona) -> list[Any]:
        with self._lock:
            if persona.id not in self._tools:
                self._tools[persona.id] = resolve_tools(list(persona.tools))
            return self._tools[persona.id]

    def mcp_tools(self, persona: Persona) -> McpTools:
        """The persona's MCP tools for a turn (its servers connected on first use)."""
        with self._lock:
            if self._mcp is None:
                configs = {p.id: p.mcp for p in self.all}
                self._mcp = McpServers(configs, self.question_timeout)
            servers = self._mcp
        return servers.for_persona(persona.id)

    def stop(self) -> None:
        """Stop the MCP clients this process started."""
        if self._mcp is not None:
            self._mcp.stop()


_SUMMARY_KNOBS = ("keep_recent", "summarize_at")
PERSONA_KEYS = frozenset(
    {
        "id", "name", "system_prompt", "provider", "model_id", "tools", "channels",
        "only_in_channels", "icon_emoji", "icon_url", "description", "prompts", "history",
        "keep_recent", "summarize_at", "mcp", "approve", "approve_always",
    }
)  # fmt: skip


def _history(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The persona's history fields, checked: how old messages leave the model's context."""
    history = raw.get("history", "window")
    if history not in HISTORY_MODES:
        raise ConfigError(
            f'{where}: history must be "window" (drop the oldest messages) or '
            f'"summarize" (the model summarizes them), not {history!r}.'
        )
    if history == "window":
        for knob in _SUMMARY_KNOBS:
            if knob in raw:
                raise ConfigError(f'{where}: {knob} only applies with history = "summarize".')
        return {}
    keep = raw.get("keep_recent", Persona.keep_recent)
    if isinstance(keep, bool) or not isinstance(keep, int) or not 2 <= keep <= 1000:
        raise ConfigError(
            f"{where}: keep_recent must be a whole number of messages from 2 to 1000 "
            f"(the latest ones, never summarized), e.g. keep_recent = 10; got {keep!r}."
        )
    at = raw.get("summarize_at", Persona.summarize_at)
    if isinstance(at, bool) or not isinstance(at, int | float) or not 0 < at <= 1:
        raise ConfigError(
            f"{where}: summarize_at must be a fraction of the model's context window above 0 "
            f"and at most 1, e.g. summarize_at = 0.7; got {at!r}."
        )
    return {"history": history, "keep_recent": keep, "summarize_at": float(at)}


def _approval(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The persona's approval fields, checked."""
    patterns = raw.get("approve", [])
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        raise ConfigError(
            f'{where}: approve must be a list of tool name patterns, e.g. approve = ["create_*"] '
            '("*": every tool).'
        )
    always = raw.get("approve_always", False)
    if not isinstance(always, bool):
        raise ConfigError(f"{where}: approve_always must be true or false.")
    return {"approve": tuple(patterns), "approve_always": always}


def _persona(raw: dict[str, Any], index: int, source: Path) -> Persona:
    where = f"PERSONAS_FILE {source}, persona #{index + 1}"
    pid = str(raw.get("id", "")).strip()
    if not _ID.match(pid):
        raise ConfigError(f'{where}: id {pid!r} must be 1-32 of a-z 0-9 _ - (e.g. "helper").')
    unknown = sorted(set(raw) - PERSONA_KEYS)
    if unknown:
        raise ConfigError(
            f"{where} ({pid}): unknown key {unknown[0]!r}; personas.example.toml lists the keys."
        )
    prompt = raw.get("system_prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError(f'{where} ({pid}): set system_prompt = "…".')
    provider = raw.get("provider")
    if provider is not None and provider not in PROVIDERS:
        raise ConfigError(f"{where} ({pid}): provider must be bedrock, anthropic or openai.")
    description = raw.get("description", "")
    if not isinstance(description, str) or "\n" in description.strip():
        raise ConfigError(f"{where} ({pid}): description must be one line of text.")
    prompts = raw.get("prompts", [])
    if not isinstance(prompts, list) or not all(
        isinstance(p, str) and p.strip() and "\n" not in p.strip() for p in prompts
    ):
        raise ConfigError(
            f"{where} ({pid}): prompts must be a list of one-line texts, "
            'e.g. prompts = ["Review my plan"].'
        )
    history = _history(raw, f"{where} ({pid})")
    only = raw.get("only_in_channels", False)
    if not isinstance(only, bool) or (only and not raw.get("channels")):
        raise ConfigError(
            f"{where} ({pid}): only_in_channels must be true or false, and true needs "
            'channels = ["C…"] listing where the persona may answer.'
        )
    return Persona(
        id=pid,
        name=str(raw.get("name") or pid),
        system_prompt=prompt,
        provider=provider,
        model_id=raw.get("model_id"),
        tools=tuple(raw.get("tools", ())),
        channels=tuple(raw.get("channels", ())),
        only_in_channels=only,
        icon_emoji=raw.get("icon_emoji"),
        icon_url=raw.get("icon_url"),
        description=description.strip(),
        prompts=tuple(p.strip() for p in prompts),
        mcp=mcp_servers(raw.get("mcp"), f"{where} ({pid})"),
        **_approval(raw, f"{where} ({pid})"),
        **history,
    )


def read_personas(config: Config) -> list[Persona]:
    """The personas of PERSONAS_FILE (or the one default persona), checked; nothing built."""
    if config.personas_file is None:
        return [Persona(id="default", name="Assistant", system_prompt=config.system_prompt)]
    try:
        data = tomllib.loads(config.personas_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"PERSONAS_FILE {config.personas_file} is not valid TOML: {exc}") from exc
    raw = data.get("persona", [])
    if not raw:
        raise ConfigError(
            f"PERSONAS_FILE {config.personas_file} defines no [[persona]] tables; add one."
        )
    personas = [_persona(item, i, config.personas_file) for i, item in enumerate(raw)]
    ids = [p.id for p in personas]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"PERSONAS_FILE {config.personas_file}: persona ids must be unique.")
    return personas


def load_personas(config: Config) -> Personas:
    limits = ToolLimits(config.tool_timeout_seconds, config.tool_result_max_chars)
    loaded = Personas(read_personas(config), config.model_provider, config.model_id, limits)
    loaded.approval_timeout = float(config.approval_timeout_seconds)
    loaded.question_timeout = float(config.elicitation_timeout_seconds)
    for persona in loaded.all:  # fail at start-up, not on the first message
        loaded.tools(persona)
        loaded.model(persona)
    return loaded
