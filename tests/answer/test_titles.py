"""A conversation's title reads like a subject line, whatever the first request looks like."""

from __future__ import annotations

import pytest

from bot.answer.titles import TITLE_MAX, UNTITLED, session_title


@pytest.mark.parametrize(
    ("request_text", "title"),
    [
        (
            "<@U0BOT> what changed in the Q3 budget? Also the headcount.",
            "What changed in the Q3 budget?",
        ),
        (
            "hey, can you summarize <https://example.com/doc|the design doc> please",
            "Summarize the design doc please",
        ),
        ("*Deploy* checklist for `api`\nstep one…", "Deploy checklist for api"),
        ("<@U0BOT>", UNTITLED),
        ("```\ncode only\n```", UNTITLED),
        ("Explain [this page](https://example.com) to me. Thanks!", "Explain this page to me"),
    ],
)
def test_title_is_the_first_sentence_without_slack_markup(request_text: str, title: str) -> None:
    assert session_title(request_text) == title


def test_a_long_request_is_cut_at_a_word_and_never_past_the_limit() -> None:
    request = "please compare " + " ".join(f"option{n}" for n in range(60))
    title = session_title(request)
    assert len(title) <= TITLE_MAX
    assert title.endswith("…")
    assert title.startswith("Compare option0 option1")
    assert not title[:-1].endswith(" ")
    assert all(word.startswith(("Compare", "option")) for word in title[:-1].split())


def test_a_word_longer_than_the_limit_is_cut_inside_it() -> None:
    title = session_title("x" * 500)
    assert title == "X" + "x" * (TITLE_MAX - 2) + "…"
    assert len(title) == TITLE_MAX
