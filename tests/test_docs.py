"""The README and docs/ link only to what exists: every relative markdown link names an
existing file, and every `#anchor` (in the same page or in `page.md#anchor`) names a heading
of that page, slugged as GitHub does."""

import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+).*?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The page's lines outside fenced code blocks, with their numbers."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lowercase, punctuation except '-' and
    '_' dropped, spaces to '-'."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in "-_ ")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        for match in LINK.finditer(INLINE_CODE.sub("", line)):
            target = match.group(1)
            if not SCHEME.match(target) and not target.startswith("//"):
                found.append((number, target))
    return found


def broken(page: Path) -> list[str]:
    problems = []
    for number, target in links(page):
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / unquote(path_part)).resolve() if path_part else page
        where = f"{page.relative_to(ROOT)}:{number}: {target}"
        if not dest.exists():
            problems.append(f"{where}: no such file")
        elif anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest):
            problems.append(f"{where}: no heading #{anchor} in {dest.relative_to(ROOT)}")
    return problems


def test_slug_follows_github() -> None:
    assert slug("Create the Slack app (Socket Mode)") == "create-the-slack-app-socket-mode"
    assert (
        slug("Data lifecycle: what is stored, where, for how long")
        == "data-lifecycle-what-is-stored-where-for-how-long"
    )
    assert slug("The Slack app's scopes and events") == "the-slack-apps-scopes-and-events"
    assert slug("`tsb_turns_total` and snake_case") == "tsb_turns_total-and-snake_case"


def test_pages_are_found() -> None:
    names = {page.name for page in PAGES}
    assert {"README.md", "architecture.md", "operations.md", "security.md"} <= names


def test_every_relative_link_resolves() -> None:
    problems = [problem for page in PAGES for problem in broken(page)]
    assert problems == [], "\n".join(problems)


def test_readme_links_every_docs_page() -> None:
    linked = {target.partition("#")[0] for _, target in links(ROOT / "README.md")}
    pages = {f"docs/{page.name}" for page in PAGES if page.parent.name == "docs"}
    assert pages - linked == set()


def readme_commands() -> list[str]:
    """The commands of the README's first code block (the run line, then the test line)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^```sh\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert block, "the README opens with a ```sh block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    run, test = readme_commands()
    assert run == "uv run python -m bot"
    assert "uv run mypy" in test and "uv run pytest" in test
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert ci[-2:] == ["uv sync --frozen", test]
