"""Configuration errors name the variable and the fix; secrets stay out of logs."""

from __future__ import annotations

import io
import logging

import pytest

from bot.config.settings import ConfigError, load
from bot.obs import logs
from bot.obs.logs import redact

GOOD = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s3cr3t"}


def test_defaults_are_embedded() -> None:
    config = load(GOOD)
    assert config.redis_url is None and config.session_bucket is None
    assert str(config.session_dir) == ".data/sessions"
    assert config.model_provider == "bedrock" and not config.distributed
    assert (config.thread_context_messages, config.thread_context_chars) == (50, 12_000)
    assert config.file_max_bytes == 5_000_000
    assert load({**GOOD, "FILE_MAX_BYTES": "2000000"}).file_max_bytes == 2_000_000
    budget = load(
        {**GOOD, "TURN_MAX_FILES": "3", "TURN_MAX_FILE_BYTES": "9000000", "THREAD_QUEUE_MAX": "7"}
    )
    assert (budget.turn_max_files, budget.turn_max_file_bytes, budget.thread_queue_max) == (
        3,
        9_000_000,
        7,
    )


def test_thread_context_can_be_turned_off() -> None:
    config = load({**GOOD, "THREAD_CONTEXT_MESSAGES": "0", "THREAD_CONTEXT_CHARS": "4000"})
    assert (config.thread_context_messages, config.thread_context_chars) == (0, 4000)


@pytest.mark.parametrize(
    "env,variable",
    [
        ({}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xapp-wrong"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({**GOOD, "MODEL_PROVIDER": "llama"}, "MODEL_PROVIDER"),
        ({**GOOD, "PORT": "eighty"}, "PORT"),
        ({**GOOD, "REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({**GOOD, "PERSONAS_FILE": "/no/such/file.toml"}, "PERSONAS_FILE"),
        ({**GOOD, "SESSION_DIR": "/tmp"}, "SESSION_DIR"),
        ({**GOOD, "PROCESS_ROLE": "web"}, "PROCESS_ROLE"),
        ({**GOOD, "PROCESS_ROLE": "accept"}, "REDIS_URL"),
        ({**GOOD, "THREAD_CONTEXT_MESSAGES": "-1"}, "THREAD_CONTEXT_MESSAGES"),
        ({**GOOD, "THREAD_CONTEXT_MESSAGES": "all"}, "THREAD_CONTEXT_MESSAGES"),
        ({**GOOD, "THREAD_CONTEXT_CHARS": "100"}, "THREAD_CONTEXT_CHARS"),
        ({**GOOD, "FILE_MAX_BYTES": "5MB"}, "FILE_MAX_BYTES"),
        ({**GOOD, "FILE_MAX_BYTES": "0"}, "FILE_MAX_BYTES"),
        ({**GOOD, "TURN_MAX_FILES": "0"}, "TURN_MAX_FILES"),
        ({**GOOD, "THREAD_QUEUE_MAX": "twenty"}, "THREAD_QUEUE_MAX"),
    ],
)
def test_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load(env)


def test_a_turns_process_needs_redis_but_no_request_secrets() -> None:
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load({"SLACK_BOT_TOKEN": "xoxb-1"}, turns_only=True)
    config = load({"SLACK_BOT_TOKEN": "xoxb-1", "REDIS_URL": "redis://r:6379/0"}, turns_only=True)
    assert config.role == "turns" and config.signing_secret == "" and config.app_token == ""
    assert load({**GOOD, "REDIS_URL": "redis://r:6379/0", "PROCESS_ROLE": "Accept"}).role == (
        "accept"
    )


def test_socket_mode_needs_an_app_token_not_a_secret() -> None:
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        load({"SLACK_BOT_TOKEN": "xoxb-1"}, socket_mode=True)
    config = load({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, socket_mode=True)
    assert config.app_token == "xapp-1"


def test_api_url_gets_its_trailing_slash() -> None:
    assert load({**GOOD, "SLACK_API_URL": "http://127.0.0.1:1/api"}).api_url.endswith("/api/")


def test_secrets_are_redacted_from_log_records() -> None:
    out = io.StringIO()
    logger = logging.getLogger("test.redaction")
    logger.addHandler(logs.handler("text", out))  # the handler logs.setup installs
    logger.setLevel(logging.INFO)
    try:
        logger.info("token %s and %s", "xoxb-123-456-abcdef", "xapp-1-A1-xyz")
        logger.info("config {'api_key': 'sk-live-123', 'signing_secret': 'abc'}")
    finally:
        logger.handlers.clear()
    text = out.getvalue()
    assert "xox?-[redacted]" in text and "xapp-[redacted]" in text
    for secret in ("xoxb-123-456-abcdef", "xapp-1-A1-xyz", "sk-live-123", "'abc'"):
        assert secret not in text
    assert redact("password=hunter2") == "password=[redacted]"


def personas_from(tmp_path, text: str):
    from bot.agent.personas import load_personas

    path = tmp_path / "personas.toml"
    path.write_text(text)
    return load_personas(load({**GOOD, "MODEL_PROVIDER": "openai", "PERSONAS_FILE": str(path)}))


def test_personas_carry_a_description_and_prompts(tmp_path) -> None:
    personas = personas_from(
        tmp_path,
        """
[[persona]]
id = "critic"
system_prompt = "x"
description = "  Reviews plans.  "
prompts = ["Review my plan", " Is this sound? "]

[[persona]]
id = "plain"
system_prompt = "y"
""",
    )
    critic, plain = personas.all
    assert (critic.description, critic.prompts) == (
        "Reviews plans.",
        ("Review my plan", "Is this sound?"),
    )
    assert (plain.description, plain.prompts) == ("", ())


@pytest.mark.parametrize(
    "field",
    [
        'description = "two\\nlines"',
        "description = 5",
        'prompts = "not a list"',
        'prompts = [""]',
        "prompts = [1]",
        'prompts = ["a\\nb"]',
    ],
)
def test_bad_description_or_prompts_stop_start_up(tmp_path, field: str) -> None:
    with pytest.raises(ConfigError, match="PERSONAS_FILE .*critic"):
        personas_from(tmp_path, f'[[persona]]\nid = "critic"\nsystem_prompt = "x"\n{field}\n')


def test_a_persona_can_summarize_its_history(tmp_path) -> None:
    personas = personas_from(
        tmp_path,
        """
[[persona]]
id = "critic"
system_prompt = "x"
history = "summarize"
keep_recent = 6
summarize_at = 0.8

[[persona]]
id = "brief"
system_prompt = "y"
history = "summarize"

[[persona]]
id = "plain"
system_prompt = "z"
history = "window"
""",
    )
    critic, brief, plain = personas.all
    assert (critic.history, critic.keep_recent, critic.summarize_at) == ("summarize", 6, 0.8)
    assert (brief.history, brief.keep_recent, brief.summarize_at) == ("summarize", 10, 0.7)
    assert plain.history == "window"


@pytest.mark.parametrize(
    "fields,named",
    [
        ('history = "forget"', "history"),
        ("history = true", "history"),
        ("keep_recent = 6", "keep_recent"),  # the window keeps WINDOW_SIZE messages
        ("summarize_at = 0.5", "summarize_at"),
        ('history = "window"\nkeep_recent = 6', "keep_recent"),
        ('history = "summarize"\nkeep_recent = 1', "keep_recent"),
        ('history = "summarize"\nkeep_recent = 5.5', "keep_recent"),
        ('history = "summarize"\nkeep_recent = true', "keep_recent"),
        ('history = "summarize"\nkeep_recent = "10"', "keep_recent"),
        ('history = "summarize"\nsummarize_at = 0', "summarize_at"),
        ('history = "summarize"\nsummarize_at = 1.5', "summarize_at"),
        ('history = "summarize"\nsummarize_at = "70%"', "summarize_at"),
    ],
)
def test_bad_history_fields_stop_start_up(tmp_path, fields: str, named: str) -> None:
    with pytest.raises(ConfigError, match=rf"PERSONAS_FILE .*\(critic\): {named} "):
        personas_from(tmp_path, f'[[persona]]\nid = "critic"\nsystem_prompt = "x"\n{fields}\n')


def test_redis_cluster_is_detected_unless_forced() -> None:
    url = {**GOOD, "REDIS_URL": "rediss://cfg.cache.amazonaws.com:6379"}
    assert load(url).redis_cluster is None  # ask the server (INFO cluster)
    assert load({**url, "REDIS_CLUSTER": "1"}).redis_cluster is True
    assert load({**url, "REDIS_CLUSTER": "off"}).redis_cluster is False
    with pytest.raises(ConfigError, match="REDIS_CLUSTER"):
        load({**url, "REDIS_CLUSTER": "maybe"})
    with pytest.raises(ConfigError, match="REDIS_CLUSTER=on needs"):
        load({**GOOD, "REDIS_URL": "unix:///tmp/r.sock", "REDIS_CLUSTER": "on"})


def test_approvers_and_the_approval_timeout_are_checked() -> None:
    loaded = load(GOOD)
    assert (loaded.approvers, loaded.approval_timeout_seconds) == ((), 86_400)
    both = load({**GOOD, "APPROVERS": " U0123ABCD, W0456EFGH ", "APPROVAL_TIMEOUT_SECONDS": "60"})
    assert (both.approvers, both.approval_timeout_seconds) == (("U0123ABCD", "W0456EFGH"), 60)
    with pytest.raises(ConfigError, match="APPROVERS must be Slack user ids.*'@alice'"):
        load({**GOOD, "APPROVERS": "U0123ABCD,@alice"})
    with pytest.raises(ConfigError, match="APPROVAL_TIMEOUT_SECONDS"):
        load({**GOOD, "APPROVAL_TIMEOUT_SECONDS": "a day"})
