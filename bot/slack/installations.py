"""Installations (OAuth distribution): where each workspace's bot token is kept, and the
settings of Bolt's OAuth flow (`GET /slack/install`, `GET /slack/oauth_redirect`).

With SESSION_BUCKET: slack_sdk's AmazonS3InstallationStore in the sessions' bucket under
`<SESSION_PREFIX>installations/` (it writes at the bucket's root; bot.store.blobs gives it a
prefixed client). Without: slack_sdk's FileInstallationStore under SESSION_DIR. The OAuth
state is signed, not stored (bot/slack/oauth_state.py): only a used state leaves a mark, under
`<SESSION_PREFIX>oauth-state/` or `SESSION_DIR/oauth-state/`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError
from slack_bolt import BoltContext
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store import Bot, FileInstallationStore, InstallationStore
from slack_sdk.oauth.installation_store.amazon_s3 import AmazonS3InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from bot.config.settings import Config
from bot.slack.oauth_state import FileMarks, S3Marks, SignedStateStore
from bot.store.blobs import prefixed_s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)
# manifest.yml's oauth_config.scopes.bot, requested by /slack/install (a test compares them)
BOT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "chat:write",
    "chat:write.customize",
    "reactions:write",
    "commands",
    "users:read",
    "files:read",
)
STATE_SECONDS = 600  # an installer has this long between /slack/install and the redirect
INSTALLATIONS, STATES = "installations/", "oauth-state/"


class S3InstallationStore(AmazonS3InstallationStore):
    """slack_sdk's S3 store, except that `find_bot` tells "not installed" (None) from "S3
    did not answer" (raises: Slack gets a 500 and retries, a turn is retried), where
    slack_sdk returns None for both: an outage must not look like an uninstall."""

    def find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        team = None if is_enterprise_install else team_id
        key = f"{self.client_id}/{enterprise_id or 'none'}-{team or 'none'}/bot-latest"
        try:
            found = self._s3().get_object(Bucket=self.bucket_name, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return Bot(**json.loads(found["Body"].read()))

    def _s3(self) -> S3Client:
        """slack_sdk types `s3_client` as botocore's BaseClient; build_stores gave it an S3
        client (prefixed_s3_client)."""
        return cast("S3Client", self.s3_client)


def build_stores(config: Config) -> tuple[InstallationStore, OAuthStateStore]:
    """The installation store and the OAuth state store of this deployment."""
    if config.session_bucket:
        bucket, prefix = config.session_bucket, config.session_prefix
        installations: InstallationStore = S3InstallationStore(
            s3_client=prefixed_s3_client(prefix + INSTALLATIONS),
            bucket_name=bucket,
            client_id=config.client_id,
            historical_data_enabled=False,
        )
        marks: S3Marks | FileMarks = S3Marks(prefixed_s3_client(prefix + STATES), bucket)
    else:
        installs, states = (_private(config.session_dir / name) for name in (INSTALLATIONS, STATES))
        installations = FileInstallationStore(
            base_dir=installs, client_id=config.client_id, historical_data_enabled=False
        )
        marks = FileMarks(Path(states), keep_seconds=STATE_SECONDS)
    return installations, SignedStateStore(config.client_secret, marks, STATE_SECONDS)


def _private(directory: Path) -> str:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)  # bot tokens live in there
    return str(directory)


def oauth_settings(
    config: Config, installations: InstallationStore, states: OAuthStateStore
) -> OAuthSettings:
    settings = OAuthSettings(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=config.redirect_uri,
        install_page_rendering_enabled=False,  # /slack/install redirects straight to Slack
        installation_store=installations,
        installation_store_bot_only=True,
        state_store=states,
        state_expiration_seconds=STATE_SECONDS,
    )
    # Bolt's own cache of auth.test by token (OAuthSettings has no switch for it): without
    # it every request's ack waits on a Slack call. The store is still read per request, so
    # an uninstall or a revocation takes effect at once; a rotated token is a new key.
    if isinstance(settings.authorize, InstallationStoreAuthorize):
        settings.authorize.cache_enabled = True
    return settings


def store_key(context: BoltContext) -> dict[str, Any]:
    """(enterprise_id, team_id) as the store keys this request's installation: an org-wide
    install has no team (Bolt's own revocation listeners pass the team regardless)."""
    team = None if context.is_enterprise_install else context.team_id
    return {"enterprise_id": context.enterprise_id, "team_id": team}


def delete_installation(store: InstallationStore, context: BoltContext) -> None:
    """`app_uninstalled`: every token of that installation."""
    store.delete_all(**store_key(context))


def delete_revoked(store: InstallationStore, event: dict[str, Any], context: BoltContext) -> bool:
    """`tokens_revoked`: the revoked user tokens and the bot token; True if the bot's."""
    given = event.get("tokens")
    tokens: dict[str, Any] = given if isinstance(given, dict) else {}
    for user in tokens.get("oauth") or []:
        store.delete_installation(**store_key(context), user_id=user)
    if tokens.get("bot"):
        store.delete_bot(**store_key(context))
        return True
    return False
