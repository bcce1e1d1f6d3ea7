"""Finding 10: with REDIS_URL and no SESSION_BUCKET, several processes share the file store;
its compare-and-swap must be atomic across processes, or a holder whose lease expired
overwrites another process's commit (a lost update, and fencing does nothing)."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from bot.store.blobs import FencingError, FileBlobs

KEY = "session/T1_C1_1-1/scopes/agent/default/snapshots/snapshot_latest.json"
COMMITS = 150  # per process


def _commit_many(
    directory: str, start: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue
) -> None:
    """Commit COMMITS increments, each read -> conditional write (retried when fenced);
    report the version (etag) each successful write replaced."""
    blobs = FileBlobs(Path(directory))
    replaced: list[str] = []
    start.wait()
    while len(replaced) < COMMITS:
        data, etag = blobs.get(KEY) or (b"", "")
        count = json.loads(data)["count"]
        try:
            blobs.put(KEY, json.dumps({"count": count + 1}).encode(), etag)
        except FencingError:
            continue
        replaced.append(etag)
    results.put(replaced)


def test_two_processes_racing_commits_on_one_key_never_lose_one(tmp_path: Path) -> None:
    blobs = FileBlobs(tmp_path / "store")
    blobs.put(KEY, json.dumps({"count": 0}).encode(), None)
    context = multiprocessing.get_context("spawn")  # real, separate interpreters
    start, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_commit_many, args=(str(blobs.directory), start, results))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    replaced = [etag for _ in workers for etag in results.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    found = blobs.get(KEY)
    assert found is not None
    # every successful write replaced a different version: exactly one winner per version
    assert len(set(replaced)) == len(replaced) == 2 * COMMITS
    assert json.loads(found[0])["count"] == 2 * COMMITS
    assert not [key for key in blobs.keys("") if key.endswith(".lock")]  # not a stored key
