"""Configuration errors name the variable and the fix; secrets stay out of logs."""

from __future__ import annotations

import logging

import pytest

from bot.config import ConfigError, load
from bot.logs import RedactingFilter, redact

GOOD = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s3cr3t"}


def test_defaults_are_embedded() -> None:
    config = load(GOOD)
    assert config.redis_url is None and config.session_bucket is None
    assert str(config.session_dir) == ".data/sessions"
    assert config.model_provider == "bedrock" and not config.distributed
    assert config.file_max_bytes == 5_000_000
    assert load({**GOOD, "FILE_MAX_BYTES": "2000000"}).file_max_bytes == 2_000_000


@pytest.mark.parametrize("env,variable", [
    ({}, "SLACK_BOT_TOKEN"),
    ({"SLACK_BOT_TOKEN": "xapp-wrong"}, "SLACK_BOT_TOKEN"),
    ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
    ({**GOOD, "MODEL_PROVIDER": "llama"}, "MODEL_PROVIDER"),
    ({**GOOD, "PORT": "eighty"}, "PORT"),
    ({**GOOD, "REDIS_URL": "localhost:6379"}, "REDIS_URL"),
    ({**GOOD, "PERSONAS_FILE": "/no/such/file.toml"}, "PERSONAS_FILE"),
    ({**GOOD, "SESSION_DIR": "/tmp"}, "SESSION_DIR"),
    ({**GOOD, "FILE_MAX_BYTES": "5MB"}, "FILE_MAX_BYTES"),
    ({**GOOD, "FILE_MAX_BYTES": "0"}, "FILE_MAX_BYTES"),
])
def test_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load(env)


def test_socket_mode_needs_an_app_token_not_a_secret() -> None:
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        load({"SLACK_BOT_TOKEN": "xoxb-1"}, socket_mode=True)
    config = load({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, socket_mode=True)
    assert config.app_token == "xapp-1"


def test_api_url_gets_its_trailing_slash() -> None:
    assert load({**GOOD, "SLACK_API_URL": "http://127.0.0.1:1/api"}).api_url.endswith("/api/")


def test_secrets_are_redacted_from_log_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("token %s and %s", "xoxb-123-456-abcdef", "xapp-1-A1-xyz")
        logger.info("config {'api_key': 'sk-live-123', 'signing_secret': 'abc'}")
    text = caplog.text
    for secret in ("xoxb-123-456-abcdef", "xapp-1-A1-xyz", "sk-live-123", "'abc'"):
        assert secret not in text
    assert redact("password=hunter2") == "password=[redacted]"
