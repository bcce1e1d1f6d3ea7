"""Model providers: the one module that knows how to reach a model."""

from __future__ import annotations

import importlib
import os
from typing import Any

from strands.models import Model

from bot import aws
from bot.config.settings import ConfigError, Provider

DEFAULT_MODEL_IDS: dict[Provider, str | None] = {
    "bedrock": None,  # Strands' own default Bedrock model
    "anthropic": "claude-sonnet-4-5",
    "openai": "gpt-4o-mini",
}
MODEL_MAX_RETRIES = 3  # the provider SDKs back off on throttling, 5xx and timeouts


def _timeout() -> float:
    raw = os.environ.get("MODEL_TIMEOUT_SECONDS", "").strip()
    try:
        return float(raw) if raw else 120.0
    except ValueError:
        raise ConfigError(f"MODEL_TIMEOUT_SECONDS={raw!r} is not a number; e.g. 120.") from None


# SDK modules a provider's client imports lazily on its first request (openai's resources
# alone take most of a second): imported during warm-up instead of by the first user.
_HTTPX = ("httpcore._backends.anyio", "anyio._backends._asyncio")  # their first connection
LAZY_MODULES: dict[Provider, tuple[str, ...]] = {
    "openai": ("openai.resources", *_HTTPX),
    "anthropic": ("anthropic.resources", *_HTTPX),
}
# What build_model imports for a provider, imported only when a persona uses it.
MODEL_MODULES: dict[Provider, tuple[str, ...]] = {
    "bedrock": ("botocore.config", "strands.models.bedrock"),
    "anthropic": ("strands.models.anthropic",),
    "openai": ("bot.agent.openai_model",),
}


def warm_provider(provider: Provider) -> None:
    for module in LAZY_MODULES.get(provider, ()):
        importlib.import_module(module)


def provider_modules(provider: Provider) -> tuple[str, ...]:
    """Every module a provider's model and its first request import."""
    return MODEL_MODULES.get(provider, ()) + LAZY_MODULES.get(provider, ())


def build_model(provider: Provider, model_id: str | None) -> Model:
    model_id = model_id or DEFAULT_MODEL_IDS.get(provider)
    if provider == "bedrock":
        from botocore.config import Config as BotoConfig
        from strands.models.bedrock import BedrockModel

        kwargs: dict[str, Any] = {"model_id": model_id} if model_id else {}
        return BedrockModel(
            boto_session=aws.session(),
            boto_client_config=BotoConfig(
                read_timeout=_timeout(),
                retries={"mode": "adaptive", "max_attempts": MODEL_MAX_RETRIES},
            ),
            **kwargs,
        )
    if provider == "anthropic":
        from strands.models.anthropic import AnthropicModel

        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise ConfigError("MODEL_PROVIDER=anthropic needs ANTHROPIC_API_KEY; set it in .env.")
        return AnthropicModel(
            client_args={"timeout": _timeout(), "max_retries": MODEL_MAX_RETRIES},
            model_id=model_id or "",
            max_tokens=4096,
        )
    if provider == "openai":
        from bot.agent.openai_model import SharedTLSOpenAIModel

        if not os.environ.get("OPENAI_API_KEY"):
            raise ConfigError(
                "MODEL_PROVIDER=openai needs OPENAI_API_KEY (any value for a local "
                "OpenAI-compatible server); set it in .env, with OPENAI_BASE_URL if not OpenAI."
            )
        return SharedTLSOpenAIModel(
            client_args={"timeout": _timeout(), "max_retries": MODEL_MAX_RETRIES},
            model_id=model_id or "",
        )
    raise ConfigError(
        f"MODEL_PROVIDER={provider!r} is not supported; use bedrock, anthropic or openai."
    )
