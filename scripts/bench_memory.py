"""Benchmark: memory of the web process group, idle and while 50 one-second turns run.

    uv run python scripts/bench_memory.py [--mentions 50] [--streaming] [--workers 2]

Starts a throwaway redis-server, moto's S3 server, the fake Slack Web API and the fake
OpenAI server (1 s per model call), then the real `web` process group (gunicorn master +
2 workers, MODEL_PROVIDER=openai against the fake). Prints, per process and for the group:
RSS (/proc/<pid>/status VmRSS) and PSS (/proc/<pid>/smaps_rollup: shared pages divided
among the processes sharing them) idle once every worker has warmed up, at the peak while
`--mentions` signed mentions in new threads are answered at once, and idle afterwards.
Goals (the issue): <= 150 MB per process idle, <= 300 MB for the group at peak. Figures
only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _paths  # noqa: F401 - the repository root on sys.path (scripts/_paths.py)

from scripts._launch import servers
from tests.fakes.signing import post_event
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import event_callback, mention_event
from tests.support.bot_process import BotProcess
from tests.support.harness import SECRET, next_ts

IDLE_GOAL_MB = 150.0  # per process
PEAK_GOAL_MB = 300.0  # the whole group
Sample = dict[int, tuple[float, float]]  # pid -> (RSS MB, PSS MB)


def _kib_field(path: Path, name: str) -> float | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None  # the process exited


def memory(pid: int) -> tuple[float, float] | None:
    """(RSS, PSS) of `pid` in MB, or None if it is gone."""
    rss = _kib_field(Path(f"/proc/{pid}/status"), "VmRSS")
    pss = _kib_field(Path(f"/proc/{pid}/smaps_rollup"), "Pss")
    return None if rss is None or pss is None else (rss, pss)


def sample(pids: list[int]) -> Sample:
    found = {pid: memory(pid) for pid in pids}
    return {pid: value for pid, value in found.items() if value is not None}


def wait_warm(web: BotProcess, workers: int, timeout: float = 60.0) -> None:
    """Until every worker logged `bot ready` (warm-up done) and the group is complete."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready = web.log_text().count("bot ready:")
        if ready >= workers and len(web.worker_pids()) == workers:
            return
        time.sleep(0.1)
    raise SystemExit(f"workers not ready after {timeout}s\n{web.log_tail()}")


class PeakSampler:
    """Samples the group every `interval` s in a thread: peak per process and of the sum."""

    def __init__(self, pids: list[int], interval: float = 0.05) -> None:
        self.pids, self.interval = pids, interval
        self.peak: Sample = {}
        self.group_peak = (0.0, 0.0)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = sample(self.pids)
            self.samples += 1
            for pid, (rss, pss) in now.items():
                old_rss, old_pss = self.peak.get(pid, (0.0, 0.0))
                self.peak[pid] = (max(old_rss, rss), max(old_pss, pss))
            rss_sum = sum(v[0] for v in now.values())
            pss_sum = sum(v[1] for v in now.values())
            self.group_peak = (max(self.group_peak[0], rss_sum), max(self.group_peak[1], pss_sum))
            self._stop.wait(self.interval)


def answers(slack: FakeSlack) -> int:
    """Final answers Slack shows: posted, or a streamed message's closing chat.update (the
    message that carries the 👍/👎 buttons)."""
    return sum(
        1
        for call in slack.calls(include_failed=False)
        if call.method in ("chat.postMessage", "chat.update")
        and "answer_feedback" in str(call.params.get("blocks", ""))
    )


def burst(web: BotProcess, slack: FakeSlack, count: int, timeout: float = 120.0) -> float:
    """Send `count` mentions in new threads at once; seconds until all are answered."""
    before = answers(slack)
    started = time.monotonic()

    def send(_: int) -> None:
        status, body = post_event(
            web.url, SECRET, event_callback(mention_event("how much memory?", "C3", next_ts()))
        )
        assert status == 200, (status, body)

    with ThreadPoolExecutor(count) as pool:
        list(pool.map(send, range(count)))
    while answers(slack) < before + count:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{answers(slack) - before} of {count} answered after {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


def table(
    title: str, names: dict[int, str], values: Sample, group: tuple[float, float] | None = None
) -> tuple[float, float]:
    print(f"== {title}")
    print(f"{'process':>10} {'RSS MB':>8} {'PSS MB':>8}")
    for pid, name in names.items():
        rss, pss = values.get(pid, (float("nan"), float("nan")))
        print(f"{name:>10} {rss:8.1f} {pss:8.1f}")
    total = group or (sum(v[0] for v in values.values()), sum(v[1] for v in values.values()))
    print(f"{'group':>10} {total[0]:8.1f} {total[1]:8.1f}")
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mentions", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--streaming", action="store_true", help="STREAMING=on (default off)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the web processes (repeatable)",
    )
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds before sampling")
    args = parser.parse_args()
    with servers() as up:
        slack = up.slack
        up.openai.delay = 1.0
        env = up.web_env(
            WEB_CONCURRENCY=str(args.workers),
            LOG_LEVEL="INFO",
            STREAMING="on" if args.streaming else "off",
            **dict(item.split("=", 1) for item in args.env),
        )
        web = up.web("memory", env)
        try:
            web.wait_ready()
            wait_warm(web, args.workers)
            time.sleep(args.settle)
            assert web.proc is not None
            names = {web.proc.pid: "master"}
            names.update({pid: f"worker {i + 1}" for i, pid in enumerate(web.worker_pids())})
            pids = list(names)
            print(
                f"web process group: gunicorn master + {args.workers} workers, "
                f"MODEL_PROVIDER=openai (fake, 1 s per call), "
                f"STREAMING={'on' if args.streaming else 'off'} {' '.join(args.env)}"
            )
            idle = sample(pids)
            idle_total = table("idle after warm-up", names, idle)
            with PeakSampler(pids) as sampler:
                seconds = burst(web, slack, args.mentions)
                time.sleep(0.3)  # replies posted; let the turns end
            peak_total = table(
                f"peak while {args.mentions} one-second mentions are answered "
                f"at once ({seconds:.2f} s, {sampler.samples} samples)",
                names,
                sampler.peak,
                sampler.group_peak,
            )
            time.sleep(args.settle)
            after_total = table("idle after the burst", names, sample(pids))
            worst = max(v[0] for v in idle.values())
            print(
                f"== goals: idle <= {IDLE_GOAL_MB:.0f} MB per process, peak <= "
                f"{PEAK_GOAL_MB:.0f} MB for the group"
            )
            print(
                f"idle, largest process RSS {worst:6.1f} MB = "
                f"{worst / IDLE_GOAL_MB:.2f}x goal  (group RSS {idle_total[0]:.1f}, "
                f"PSS {idle_total[1]:.1f} MB)"
            )
            for label, (rss, pss) in (("peak", peak_total), ("after", after_total)):
                print(
                    f"{label:>5}, group RSS {rss:6.1f} MB = {rss / PEAK_GOAL_MB:.2f}x goal,"
                    f" PSS {pss:6.1f} MB = {pss / PEAK_GOAL_MB:.2f}x goal"
                )
        finally:
            web.kill()


if __name__ == "__main__":
    main()
