"""Reading one environment variable, and the error that names it and the fix."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem, phrased as: which variable, what is wrong, how to fix it."""


def get(env: dict[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def require(env: dict[str, str], name: str, prefix: str, fix: str) -> str:
    value = get(env, name)
    if value is None:
        raise ConfigError(f"{name} is not set. {fix}")
    if prefix and not value.startswith(prefix):
        raise ConfigError(f"{name} must start with '{prefix}'. {fix}")
    return value


def whole_number(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a whole number; set e.g. {name}={default}."
        ) from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}; set e.g. {name}={default}.")
    return value


def flag(env: dict[str, str], name: str, default: bool) -> bool:
    raw = (get(env, name) or "").lower()
    if not raw:
        return default
    if raw not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{name}={raw!r} is not on or off; set {name}=on or {name}=off.")
    return raw in ("on", "true", "1", "yes")
