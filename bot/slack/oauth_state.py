"""The OAuth `state` of Bolt's install flow without a write per visit of /slack/install.

slack_sdk's file and S3 state stores write one object each time the install link is opened,
so anyone who can reach the URL can fill a disk or run up S3 PUTs. Here `issue()` writes
nothing: the state is `<expiry>.<nonce>.<signature>`, an HMAC-SHA256 with a key derived from
SLACK_CLIENT_SECRET. `consume()` checks the signature and the expiry, then records the nonce
as used (an S3 object created only if absent, or a file created exclusively) so a state
works once: at most one small write per validly signed, unexpired callback, and Bolt has
checked the installer's state cookie before that. Marks older than a state's lifetime are
no longer needed (the expiry refuses the state): files are pruned here, S3 keys by the
bucket's lifecycle rule (`python -m bot lifecycle`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from slack_sdk.oauth.state_store import OAuthStateStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)
KEY_CONTEXT = b"thread-session-bot oauth state v1"


class Marks(Protocol):
    def first_use(self, nonce: str) -> bool:
        """Record `nonce` as used; False if it already was."""
        ...


class FileMarks:
    """Used nonces as empty files in `directory` (created with O_EXCL)."""

    def __init__(self, directory: Path, keep_seconds: float) -> None:
        self.directory, self.keep_seconds = directory, keep_seconds

    def first_use(self, nonce: str) -> bool:
        self._prune()
        try:
            os.close(os.open(self.directory / nonce, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            return False
        return True

    def _prune(self) -> None:
        oldest = time.time() - self.keep_seconds
        for path in self.directory.iterdir():
            try:
                if path.stat().st_mtime < oldest:
                    path.unlink()
            except OSError:
                pass  # another process pruned it


class S3Marks:
    """Used nonces as empty objects, created only if absent (`IfNoneMatch="*"`)."""

    def __init__(self, s3_client: S3Client, bucket: str) -> None:
        self.s3_client, self.bucket = s3_client, bucket

    def first_use(self, nonce: str) -> bool:
        try:
            self.s3_client.put_object(Bucket=self.bucket, Key=nonce, Body=b"", IfNoneMatch="*")
        except ClientError as exc:
            if exc.response["Error"]["Code"] in (
                "PreconditionFailed",
                "412",
                "ConditionalRequestConflict",
            ):
                return False
            raise
        return True


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SignedStateStore(OAuthStateStore):
    """slack_sdk's OAuthStateStore: signed, expiring, single-use states; `issue()` is free."""

    def __init__(
        self,
        secret: str,
        marks: Marks | None,
        expiration_seconds: int = 600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = hmac.new(secret.encode(), KEY_CONTEXT, hashlib.sha256).digest()
        self.marks, self.expiration_seconds, self.clock = marks, expiration_seconds, clock

    @property
    def logger(self) -> logging.Logger:
        return log

    def issue(self, *args: Any, **kwargs: Any) -> str:  # noqa: ANN401 - slack_sdk's signature
        """A new state; nothing is stored."""
        payload = f"{int(self.clock()) + self.expiration_seconds}.{secrets.token_urlsafe(16)}"
        return f"{payload}.{self._sign(payload)}"

    def consume(self, state: str) -> bool:
        """True once for a state this deployment issued that has not expired."""
        nonce = self._verified(state)
        if nonce is None or self.marks is None:
            return False
        try:
            if self.marks.first_use(nonce):
                return True
            log.warning("refused an OAuth state that was already used")
        except (OSError, BotoCoreError, ClientError) as exc:
            log.error("could not record an OAuth state as used: %s", exc)
        return False

    def _verified(self, state: str) -> str | None:
        if not isinstance(state, str) or not state.isascii():
            log.warning("refused an OAuth state that this deployment did not issue")
            return None
        expiry, _, rest = state.partition(".")
        nonce, _, signature = rest.partition(".")
        if not (expiry.isdigit() and nonce and signature) or not hmac.compare_digest(
            signature, self._sign(f"{expiry}.{nonce}")
        ):
            log.warning("refused an OAuth state that this deployment did not issue")
            return None
        if int(expiry) < self.clock():
            log.info("refused an expired OAuth state")
            return None
        return nonce

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())
