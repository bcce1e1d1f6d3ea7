"""The local-file blob store behaves like S3 where the bot relies on it."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.store.blobs import FileBlobs


def test_listing_survives_directories_removed_meanwhile(tmp_path: Path) -> None:
    """The lifecycle sweeper deletes sessions while other code lists keys: a listing must
    skip what vanished, as an S3 listing does, instead of raising FileNotFoundError
    (it once failed CI that way)."""
    blobs = FileBlobs(tmp_path / "store")
    keys = [
        f"session/s{n}/scopes/agent/default/message_{m}.json" for n in range(40) for m in range(5)
    ]
    for key in keys:
        blobs.put(key, b"{}", None)
    errors: list[BaseException] = []
    deleted = threading.Event()

    def delete_all() -> None:
        for key in keys:
            blobs.delete([key])
        deleted.set()

    deleter = threading.Thread(target=delete_all)
    deleter.start()
    while not deleted.is_set():
        try:
            listed = list(blobs.listed("session/"))
        except OSError as exc:
            errors.append(exc)
            break
        assert all(key in keys for key, _ in listed)
    deleter.join()
    assert errors == []
    assert list(blobs.keys("session/")) == []


def test_listing_is_sorted_and_filtered_by_prefix(tmp_path: Path) -> None:
    blobs = FileBlobs(tmp_path / "store")
    for key in ["session/b/x.json", "session/a/y.json", "sessions-other/z.json", "inbox/q"]:
        blobs.put(key, b"1", None)
    assert list(blobs.keys("session/")) == ["session/a/y.json", "session/b/x.json"]
    assert list(blobs.keys("session")) == [
        "session/a/y.json",
        "session/b/x.json",
        "sessions-other/z.json",
    ]
