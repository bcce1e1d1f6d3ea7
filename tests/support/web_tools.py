"""Tools for test personas whose results cite web pages (a persona names this module:
`tools = ["tests.support.web_tools"]`, bot/agent/tools.py). No network: the results are
fixed, in the shapes a real tool returns them (a `text` block, a `json` block)."""

from __future__ import annotations

from typing import Any

from strands import tool

DOCS = "https://docs.example.com/streaming/answers"
GUIDE = "https://www.example.org/guides/tasks?view=full&lang=en"
GOOD = "https://good.example.net/ok"
HOSTILE = [
    "javascript:alert(document.cookie)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "https://admin:hunter2@evil.example.com/login",
    "ftp://files.example.com/secret",
    "https://long.example.com/" + "a" * 2_000,
]


@tool
def web_search(query: str) -> dict[str, Any]:
    """Search the web; the result cites the pages found (text and JSON).

    Args:
        query: what to look for.
    """
    return {
        "status": "success",
        "content": [
            {"text": f"Found for {query}: see {DOCS} (and {DOCS} again)."},
            {"json": {"results": [{"title": "Guide", "url": GUIDE}]}},
        ],
    }


@tool
def fetch_page(url: str) -> str:
    """Fetch a page and return its text; it links a page the search did not.

    Args:
        url: the page.
    """
    return f"Page {url} says: tasks show their sources. More at {GOOD}."


@tool
def shady_page(query: str) -> str:
    """A page whose text is full of links no user should be sent to, and one good one.

    Args:
        query: anything.
    """
    return "Links: " + " ".join(HOSTILE) + f" and the real one: {GOOD}"
