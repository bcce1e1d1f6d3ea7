"""Blobs: the one module that talks to S3 (or, in the embedded default, the local disk).

Keys and bytes only, with the one thing Strands' own `Storage` backends lack: conditional
writes. `put(key, data, etag)` writes only if the object still has `etag` (`If-Match`), or
`etag=None` only if it does not exist yet (`If-None-Match: *`); otherwise FencingError.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from strands.types.exceptions import SessionException

from bot import aws
from bot.obs import metrics

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client  # stubs: a dev dependency, for the type checker only

_CONDITION_FAILED = ("PreconditionFailed", "412", "ConditionalRequestConflict")
_MISSING = ("404", "NoSuchKey", "NotFound")


class FencingError(SessionException):
    """A conditional write failed: another worker wrote this object since we read it."""


def s3_client(quick: bool = False) -> S3Client:
    """An S3 client of the process's boto3 session (thread-safe; costly: build few)."""
    config = BotoConfig(
        user_agent_extra="strands-agents thread-session-bot",
        retries={"mode": "standard", "max_attempts": 2 if quick else 4},
        max_pool_connections=128,
    )
    if quick:
        config = config.merge(BotoConfig(connect_timeout=1, read_timeout=2))
    client = aws.session().client("s3", config=config)
    metrics.watch_s3(client)  # every S3 request, retries included, by operation and status
    return client


def prefixed_s3_client(prefix: str) -> S3Client:
    """An S3 client whose object keys all live under `prefix`, for code that writes keys at
    the bucket's root (slack_sdk's S3 installation and OAuth state stores). A botocore
    event prefixes `Key`/`Prefix` on the way out; keys that a listing returned already carry
    it and are left alone."""
    client = s3_client()

    def add_prefix(params: dict[str, Any], **_: Any) -> None:
        for name in ("Key", "Prefix"):
            if name in params and not params[name].startswith(prefix):
                params[name] = prefix + params[name]

    for operation in ("PutObject", "GetObject", "DeleteObject", "ListObjects", "ListObjectsV2"):
        client.meta.events.register(f"before-parameter-build.s3.{operation}", add_prefix)
    return client


class Blobs(Protocol):
    requests: int  # S3 requests made (0 for files): benchmarks read it

    def get(self, key: str) -> tuple[bytes, str] | None: ...
    def put(self, key: str, data: bytes, etag: str | None) -> str: ...
    def keys(self, prefix: str) -> Iterator[str]: ...
    def listed(self, prefix: str) -> Iterator[tuple[str, float]]: ...
    def delete(self, keys: list[str]) -> None: ...
    def ping(self) -> None: ...
    def quick(self) -> Blobs: ...


class S3Blobs:
    def __init__(self, bucket: str, prefix: str, quick: bool = False) -> None:
        self.bucket, self.prefix, self.requests = bucket, prefix, 0
        # Thread-safe and costly to build: one per process (two: see quick()).
        self.client = s3_client(quick)

    def quick(self) -> S3Blobs:
        """The same bucket for requests Slack's 3 s ack waits on: a slow or failing S3 is
        given up on within seconds (Slack gets a 500 and retries), not after a minute."""
        return S3Blobs(self.bucket, self.prefix, quick=True)

    def _call(self, method: str, **kwargs: Any) -> Any:
        self.requests += 1  # not atomic across threads; a benchmark figure, not accounting
        return getattr(self.client, method)(Bucket=self.bucket, **kwargs)

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self._call("get_object", Key=self.prefix + key)
        except ClientError as e:
            if e.response["Error"]["Code"] in _MISSING:
                return None
            raise SessionException(f"S3 error reading {key}: {e}") from e
        return response["Body"].read(), response["ETag"]

    def put(self, key: str, data: bytes, etag: str | None) -> str:
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            response = self._call(
                "put_object",
                Key=self.prefix + key,
                Body=data,
                ContentType="application/json",
                **condition,
            )
        except ClientError as e:
            if e.response["Error"]["Code"] in _CONDITION_FAILED:
                raise FencingError(f"conditional write of {key} refused: {condition}") from e
            raise SessionException(f"S3 error writing {key}: {e}") from e
        return response["ETag"]

    def keys(self, prefix: str) -> Iterator[str]:
        return (key for key, _ in self.listed(prefix))

    def listed(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Keys under `prefix` with the time each was last written."""
        token: dict[str, str] = {}
        while True:
            page = self._call("list_objects_v2", Prefix=self.prefix + prefix, **token)
            for obj in page.get("Contents", []):
                yield obj["Key"][len(self.prefix) :], obj["LastModified"].timestamp()
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def lifecycle_rules(self) -> list[dict[str, Any]]:
        """The bucket's lifecycle rules ([] if it has none)."""
        try:
            return self._call("get_bucket_lifecycle_configuration").get("Rules", [])
        except ClientError as e:
            if e.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
                return []
            raise

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self.prefix + key} for key in keys[start : start + 1000]]
            self._call("delete_objects", Delete={"Objects": batch, "Quiet": True})

    def ping(self) -> None:
        self._call("head_bucket")


LOCK_FILE = ".lock"  # FileBlobs: beside the data, never a key


class FileBlobs:
    """The same contract on a local directory (one host); the ETag is a content hash.

    Several processes may share the directory (gunicorn workers with REDIS_URL and no
    SESSION_BUCKET): a conditional write checks and replaces under an exclusive `flock` of
    the directory's lock file, so exactly one writer wins each version across processes."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.requests = directory.resolve(), 0
        self._lock = threading.Lock()  # one writer per process at a time, then the flock
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_path = self.directory / LOCK_FILE

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Held by one thread of one process at a time (fcntl.flock: released by the
        kernel if the process dies)."""
        with self._lock:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing the only descriptor releases the flock

    def _path(self, key: str) -> Path:
        path = (self.directory / key).resolve()
        if self.directory not in path.parents:
            raise ValueError(f"key {key!r} escapes the session directory")
        return path

    def get(self, key: str) -> tuple[bytes, str] | None:
        try:
            data = self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return data, hashlib.md5(data).hexdigest()

    def put(self, key: str, data: bytes, etag: str | None) -> str:
        path = self._path(key)
        with self._exclusive():
            current = self.get(key)
            if (current[1] if current else None) != etag:
                raise FencingError(f"conditional write of {key} refused")
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            temporary.write_bytes(data)
            temporary.replace(path)  # atomic: a crash leaves the old file or the new one
        return hashlib.md5(data).hexdigest()

    def keys(self, prefix: str) -> Iterator[str]:
        return (key for key, _ in self.listed(prefix))

    def listed(self, prefix: str) -> Iterator[tuple[str, float]]:
        """Like S3: every key starting with `prefix` (`session/T1_` as well as `session/`),
        with the time it was last written."""
        folder = prefix.rpartition("/")[0]
        base = self._path(folder) if folder.strip("/") else self.directory
        # os.walk skips a directory that a concurrent delete removed (rglob raised)
        found = sorted(Path(root, name) for root, _, names in os.walk(base) for name in names)
        for path in found:
            key = path.relative_to(self.directory).as_posix()
            if path.name.endswith(".tmp") or key == LOCK_FILE or not key.startswith(prefix):
                continue
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                yield key, path.stat().st_mtime

    def delete(self, keys: list[str]) -> None:
        with self._exclusive():  # a put's mkdir never races this rmdir of its directory
            for key in keys:
                self._delete(key)

    def _delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        for parent in path.parents:  # drop emptied directories, as S3 has none
            try:
                if parent == self.directory or any(parent.iterdir()):
                    break
                parent.rmdir()
            except OSError:  # another process wrote or removed it meanwhile
                break

    def quick(self) -> FileBlobs:
        return self

    def ping(self) -> None:
        if not os.access(self.directory, os.W_OK):
            raise OSError(f"session directory {self.directory} is not writable")
