from bot.reply import CHUNK_CHARS, chunks


def test_long_answers_are_split_without_losing_text() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(200))
    parts = chunks(text)
    assert len(parts) > 1 and all(len(p) <= CHUNK_CHARS for p in parts)
    assert "\n".join(parts) == text
    assert chunks("") == [""] and chunks("short") == ["short"]
