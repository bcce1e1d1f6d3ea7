"""The command line of scripts/soak.py: its options, and the checks that they fit."""

from __future__ import annotations

import argparse
import random
from typing import Literal

from scripts.soak_redis import Schedule

Fault = Literal["restart", "outage"]  # empty restarts; outages keeping the data
DOWN_OPTION: dict[Fault, str] = {"restart": "--redis-down", "outage": "--redis-outage"}


def parse_args(description: str) -> argparse.Namespace:
    """The soak's options from sys.argv; a usage error exits. `seed` is always set."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--kill-every", type=float, default=5.0, help="seconds between SIGKILLs (0 = none)"
    )
    parser.add_argument(
        "--sigterm-every",
        type=float,
        default=0.0,
        help="seconds between SIGTERM + restart of a process (0 = none)",
    )
    add_schedule_options(
        parser,
        "restart",
        "seconds between restarts of redis-server, empty (0 = none)",
        (0.5, 2.0),
        "seconds Redis is down per restart",
    )
    add_schedule_options(
        parser,
        "outage",
        "seconds between Redis outages keeping the data (0 = none)",
        (1.0, 5.0),
        "seconds each Redis outage lasts",
    )
    parser.add_argument(
        "--double-text",
        type=float,
        default=0.25,
        help="chance a user sends before the previous answer arrived",
    )
    parser.add_argument("--model-min", type=float, default=0.1, help="model latency, s")
    parser.add_argument("--model-max", type=float, default=1.0, help="model latency, s")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=15.0,
        help="hard bound on the run (exit 2 when reached)",
    )
    parser.add_argument(
        "--streaming",
        action="store_true",
        help="stream answers (chat.startStream…) instead of posting them",
    )
    parser.add_argument(
        "--keep-logs", action="store_true", help="keep the bot logs even when the run passes"
    )
    args = parser.parse_args()
    if args.threads < 1 or args.messages < args.threads or args.workers < 1:
        parser.error("need --threads >= 1, --messages >= --threads, --workers >= 1")
    check_schedule(parser, args, "restart")
    check_schedule(parser, args, "outage")
    if args.model_max >= 3.0:
        parser.error("--model-max must stay below LOCK_TTL_SECONDS (3)")
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    return args


def add_schedule_options(
    parser: argparse.ArgumentParser,
    fault: Fault,
    every_help: str,
    down: tuple[float, float],
    down_help: str,
) -> None:
    """`--redis-<fault>-every SECONDS`, `--redis-<fault>s N` and how long Redis is down
    each time (DOWN_OPTION: MIN MAX seconds, `down` by default)."""
    parser.add_argument(
        f"--redis-{fault}-every", type=float, default=0.0, metavar="SECONDS", help=every_help
    )
    parser.add_argument(
        f"--redis-{fault}s",
        type=int,
        default=0,
        metavar="N",
        help=f"at most N Redis {fault}s (0 = no limit)",
    )
    parser.add_argument(
        DOWN_OPTION[fault],
        type=float,
        nargs=2,
        default=list(down),
        metavar=("MIN", "MAX"),
        help=down_help,
    )


def schedule_of(args: argparse.Namespace, fault: Fault) -> Schedule:
    """The schedule the options of add_schedule_options() set."""
    down = getattr(args, DOWN_OPTION[fault].removeprefix("--").replace("-", "_"))
    every, limit = getattr(args, f"redis_{fault}_every"), getattr(args, f"redis_{fault}s")
    return Schedule(every, tuple(down), limit)


def check_schedule(parser: argparse.ArgumentParser, args: argparse.Namespace, fault: Fault) -> None:
    """Exit with a usage error when the options of add_schedule_options() do not fit."""
    plan = schedule_of(args, fault)
    if plan.every < 0 or not 0 <= plan.down[0] <= plan.down[1]:
        parser.error(f"need --redis-{fault}-every >= 0 and 0 <= {DOWN_OPTION[fault]} MIN <= MAX")
    if plan.limit and not plan.every:
        parser.error(f"--redis-{fault}s N needs --redis-{fault}-every SECONDS")
