"""The repository root on sys.path, for the scripts' `bot`, `tests` and `scripts` imports.

The scripts run as `uv run python scripts/<name>.py`: Python puts scripts/ on sys.path, not
the root (the project is not installed: `package = false`). Each script imports this module
first (`import _paths`), before anything of the repository."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
