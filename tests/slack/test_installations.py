"""OAuth configuration, the scopes /slack/install asks for, and the installation stores."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError

from bot.config.settings import ConfigError, load
from bot.slack.installations import BOT_SCOPES, S3InstallationStore
from bot.store.blobs import prefixed_s3_client

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "1234567890.0987654321"


def test_the_requested_scopes_are_the_manifests() -> None:
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert sorted(BOT_SCOPES) == sorted(manifest["oauth_config"]["scopes"]["bot"])
    events = manifest["settings"]["event_subscriptions"]["bot_events"]
    assert {"app_uninstalled", "tokens_revoked"} <= set(events)


@pytest.mark.parametrize(
    "env,socket,variable",
    [
        ({"SLACK_CLIENT_ID": CLIENT_ID}, False, "SLACK_CLIENT_SECRET"),
        ({"SLACK_CLIENT_SECRET": "s"}, False, "SLACK_CLIENT_ID"),
        (
            {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": "s", "SLACK_APP_TOKEN": "xapp-1"},
            True,
            "HTTP mode",
        ),
        (
            {
                "SLACK_CLIENT_ID": CLIENT_ID,
                "SLACK_CLIENT_SECRET": "s",
                "SLACK_REDIRECT_URI": "https://bot.example.com/oauth",
            },
            False,
            "SLACK_REDIRECT_URI",
        ),
    ],
)
def test_oauth_configuration_errors_name_the_fix(
    env: dict[str, str], socket: bool, variable: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        load({"SLACK_SIGNING_SECRET": "x", **env}, socket_mode=socket)


def test_oauth_needs_no_bot_token_and_single_token_mode_stays_the_default() -> None:
    config = load(
        {"SLACK_SIGNING_SECRET": "x", "SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": "s"}
    )
    assert config.oauth and config.bot_token == ""
    single = load({"SLACK_SIGNING_SECRET": "x", "SLACK_BOT_TOKEN": "xoxb-1"})
    assert not single.oauth and single.bot_token == "xoxb-1"
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        load({"SLACK_SIGNING_SECRET": "x"})


def test_an_unreachable_bucket_is_not_an_uninstall(s3_env: dict[str, str]) -> None:
    store = S3InstallationStore(
        s3_client=prefixed_s3_client("bot/installations/"),
        bucket_name="no-such-bucket",
        client_id=CLIENT_ID,
    )
    with pytest.raises(ClientError):  # slack_sdk's own store would answer None
        store.find_bot(enterprise_id=None, team_id="T1")
