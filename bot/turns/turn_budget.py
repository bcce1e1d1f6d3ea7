"""Per-turn budget: how much one turn may take from its thread's queue, and download.

A turn coalesces the queued messages of its thread (bot/turns/conversation.py). Unbounded, a
burst of file-laden messages makes one turn download and hold every file of every
message (50 messages x 10 files x FILE_MAX_BYTES). Here:

- `take_batch`: a turn takes queued messages while their files (by count and declared
  size, each capped at FILE_MAX_BYTES) and text stay within the budget; the rest wait
  for the next turn. The first message is always taken.
- `Allowance`: what one turn may still download. A file past it (one message carrying
  more than the budget, or sizes Slack declared wrong) is not downloaded: it becomes a
  problem naming it ("x.png: left out ..."), which the model is told and the answer shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.jobs import Job
from bot.turns.inputs.file_download import FileProblem, mb

TURN_MAX_TEXT_CHARS = 60_000  # message text one turn takes (each message is <= 12,000)


@dataclass
class Allowance:
    """The files and bytes one turn may still download (shared by its messages)."""

    files: int
    bytes: int
    limit_files: int = 0
    limit_bytes: int = 0

    @classmethod
    def of(cls, max_files: int, max_bytes: int) -> Allowance:
        return cls(max_files, max_bytes, max_files, max_bytes)

    def admit(self, declared: Any) -> int:
        """Room in bytes for the next download; FileProblem if there is none, or if the
        file's declared size is larger than what is left."""
        too_big = isinstance(declared, int) and declared > self.bytes
        if self.files <= 0 or self.bytes <= 0 or too_big:
            raise FileProblem(
                f"left out (one turn reads at most {self.limit_files} files and "
                f"{mb(self.limit_bytes)}; send it again in a message of its own)",
                "over_budget",
            )
        return self.bytes

    def spend(self, size: int) -> None:
        self.files -= 1
        self.bytes -= size


def _file_cost(file: Mapping[str, Any], per_file: int) -> int:
    size = file.get("size")
    return min(size, per_file) if isinstance(size, int) and size >= 0 else per_file


def take_batch(jobs: list[Job], max_files: int, max_bytes: int, per_file: int) -> list[Job]:
    """The head of `jobs` one turn takes: while files and text stay within the budget."""
    files = cost = chars = 0
    taken: list[Job] = []
    for job in jobs:
        files += len(job.files)
        cost += sum(_file_cost(f, per_file) for f in job.files)
        chars += len(job.text)
        if taken and (files > max_files or cost > max_bytes or chars > TURN_MAX_TEXT_CHARS):
            break
        taken.append(job)
    return taken
