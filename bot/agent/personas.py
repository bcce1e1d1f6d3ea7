"""Personas: who the bot can be. Each persona is its own agent_id inside a thread session."""

from __future__ import annotations

import re
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from strands.models import Model

from bot.agent.model import build_model
from bot.agent.tools import resolve_tools
from bot.config import Config, ConfigError

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Persona:
    id: str
    name: str
    system_prompt: str
    provider: str | None = None
    model_id: str | None = None
    tools: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    icon_emoji: str | None = None
    icon_url: str | None = None
    description: str = ""  # one line, shown by `help`
    prompts: tuple[str, ...] = ()  # suggested prompts in the bot's DM / agent view


@dataclass
class Personas:
    all: list[Persona]
    default_provider: str
    default_model_id: str | None
    _models: dict[str, Model] = field(default_factory=dict)
    _tools: dict[str, list[Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.all]

    @property
    def several(self) -> bool:
        return len(self.all) > 1

    def get(self, persona_id: str | None) -> Persona | None:
        return next((p for p in self.all if p.id == persona_id), None)

    def default_for(self, channel: str) -> Persona:
        return next((p for p in self.all if channel in p.channels), self.all[0])

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


def _persona(raw: dict[str, Any], index: int, source: Path) -> Persona:
    where = f"PERSONAS_FILE {source}, persona #{index + 1}"
    pid = str(raw.get("id", "")).strip()
    if not _ID.match(pid):
        raise ConfigError(f"{where}: id {pid!r} must be 1-32 of a-z 0-9 _ - (e.g. \"helper\").")
    prompt = raw.get("system_prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ConfigError(f"{where} ({pid}): set system_prompt = \"…\".")
    provider = raw.get("provider")
    if provider not in (None, "bedrock", "anthropic", "openai"):
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
            "e.g. prompts = [\"Review my plan\"]."
        )
    return Persona(
        id=pid, name=str(raw.get("name") or pid), system_prompt=prompt, provider=provider,
        model_id=raw.get("model_id"), tools=tuple(raw.get("tools", ())),
        channels=tuple(raw.get("channels", ())), icon_emoji=raw.get("icon_emoji"),
        icon_url=raw.get("icon_url"), description=description.strip(),
        prompts=tuple(p.strip() for p in prompts),
    )


def read_personas(config: Config) -> list[Persona]:
    """The personas of PERSONAS_FILE (or the one default persona), checked; nothing built."""
    if config.personas_file is None:
        return [Persona(id="default", name="Assistant", system_prompt=config.system_prompt)]
    try:
        data = tomllib.loads(config.personas_file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"PERSONAS_FILE {config.personas_file} is not valid TOML: {exc}"
        ) from exc
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
    loaded = Personas(read_personas(config), config.model_provider, config.model_id)
    for persona in loaded.all:  # fail at start-up, not on the first message
        loaded.tools(persona)
        loaded.model(persona)
    return loaded
