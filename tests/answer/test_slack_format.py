from bot.answer.slack_format import (
    FALLBACK_CHARS,
    PART_CHARS,
    fallback_text,
    follow_streamed,
    split_parts,
)


def test_long_answers_are_split_at_line_breaks_without_losing_text() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(400))
    parts = split_parts(text)
    assert len(parts) == 4 and all(len(p) <= PART_CHARS for p in parts)
    assert "\n".join(parts) == text
    assert split_parts("") == [""] and split_parts("short") == ["short"]


def test_paragraph_breaks_are_preferred_to_line_breaks() -> None:
    first = "\n".join("a" * 50 for _ in range(150))  # 7,649 characters of short lines
    text = f"{first}\n\n" + "\n".join("b" * 50 for _ in range(100))
    assert split_parts(text)[0] == first


def test_a_code_block_cut_in_two_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"print({i})" + " " * 40 for i in range(400))
    text = f"Here:\n\n```python\n{code}\n```\nDone."
    parts = split_parts(text)
    assert len(parts) == 3
    assert all(p.count("```") % 2 == 0 for p in parts)  # every part renders on its own
    assert parts[0].endswith("\n```") and parts[1].startswith("```python\n")
    assert parts[2].startswith("```python\n") and parts[2].endswith("```\nDone.")
    rebuilt = "\n".join(parts).replace("\n```\n```python\n", "\n")
    assert rebuilt == text


def test_a_text_without_breaks_is_cut_at_the_limit() -> None:
    parts = split_parts("x" * 25_000)
    assert [len(p) for p in parts] == [PART_CHARS, PART_CHARS, 5_000]


def test_the_fallback_text_stays_under_chat_update_limit() -> None:
    assert fallback_text("short") == "short"
    long = fallback_text("y" * 12_000)
    assert len(long) == FALLBACK_CHARS < 4_000 and long.endswith("…")


def test_streamed_messages_keep_what_they_showed_when_the_answer_starts_with_it() -> None:
    streamed = ["alpha beta gam", "ma delta\n", "epsilon"]  # rolled over mid-word, on time
    text = "alpha beta gamma delta\nepsilon zeta"
    assert follow_streamed(text, streamed) == ["alpha beta ", "gamma delta", "epsilon zeta"]


def test_an_answer_that_differs_from_what_streamed_is_split_afresh() -> None:
    assert follow_streamed("a new answer", ["old ", "text"]) == ["a new answer"]


def test_a_code_block_across_streamed_messages_is_closed_in_each() -> None:
    streamed = ["intro\n```sh\necho 1\n", "echo 2\n```\n"]
    parts = follow_streamed("intro\n```sh\necho 1\necho 2\n```\ndone", streamed)
    assert parts == ["intro\n```sh\necho 1\n```", "```sh\necho 2\n```\ndone"]


def test_an_empty_last_message_is_not_kept() -> None:
    assert follow_streamed("all of it\n", ["all of it\n", ""]) == ["all of it"]
