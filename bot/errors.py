"""Which errors are trouble worth retrying (Redis, storage, network), as opposed to bugs
or model errors. One definition, used by the ack path, the turn and the error handler."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError
from redis.exceptions import RedisError
from strands.types.exceptions import SessionException

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    SessionException,
    BotoCoreError,
    ClientError,
    OSError,
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)
