"""The layout is part of the test suite: packages follow the flow, and no module grows long.

The flow, from a Slack request to what is kept (docs/architecture.md):

    serve → listeners → intake → turns → agent → answer → slack → store → config → obs

A module may import its own package and the packages after it, never one before it ("no
arrow up the flow"); `bot/jobs.py`, `bot/errors.py`, `bot/aws.py` and `bot/tls.py` are the
shared base every package may use.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOW = [
    "serve",
    "listeners",
    "intake",
    "turns",
    "agent",
    "answer",
    "slack",
    "store",
    "config",
    "obs",
]
BASE = {"jobs", "errors", "aws", "tls"}
MAX_LINES = 300


def layer(module: str) -> int | None:
    """The position of `module` (a dotted bot.* name) in the flow; the base comes last."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "bot":
        return None
    if parts[1] in FLOW:
        return FLOW.index(parts[1])
    return len(FLOW) if parts[1] in BASE else None


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imported(path: Path) -> list[str]:
    """Every bot.* module `path` imports (`from bot import x` counts as bot.x)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bot":
            if node.module == "bot":
                names += [f"bot.{alias.name}" for alias in node.names]
            else:
                names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.startswith("bot.")]
    return names


def bot_modules() -> list[Path]:
    return sorted((ROOT / "bot").rglob("*.py"))


def test_every_module_has_a_place_in_the_flow() -> None:
    placed = {"bot.__init__", "bot.__main__"}
    homeless = [
        module_name(path)
        for path in bot_modules()
        if module_name(path) not in placed and layer(module_name(path)) is None
    ]
    assert homeless == [], f"put these in a package of the flow ({FLOW}) or the base {BASE}"


def test_no_import_up_the_flow() -> None:
    arrows = []
    for path in bot_modules():
        source = layer(module_name(path))
        if source is None:
            continue
        for target in imported(path):
            position = layer(target)
            if position is not None and position < source:
                arrows.append(f"{module_name(path)} -> {target}")
    assert arrows == [], "imports up the flow:\n" + "\n".join(arrows)


def test_modules_stay_short() -> None:
    long = {
        module_name(path): count
        for path in bot_modules()
        if (count := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}, f"split these by responsibility (at most {MAX_LINES} lines each)"


def test_the_checks_see_an_arrow_up_the_flow(tmp_path: Path) -> None:
    """The import check itself: a store module importing the agent is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from bot.agent.personas import Persona\nfrom bot import jobs\n")
    up = [t for t in imported(bad) if (layer(t) or 0) < FLOW.index("store")]
    assert up == ["bot.agent.personas"]
