"""What a message's files become in the prompt, and what the stored session keeps of them."""

from __future__ import annotations

from bot.agent.prompt import (
    NO_TEXT,
    FileInput,
    answer_note,
    media_label,
    prompt_blocks,
    shrink_for_storage,
)

PNG_BLOCK = {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}
PDF_BLOCK = {"document": {"format": "pdf", "name": "Q3 report", "source": {"bytes": b"%PDF-"}}}


def test_a_message_without_files_is_its_text() -> None:
    assert prompt_blocks("hello", [], None) == [{"text": "hello"}]
    assert prompt_blocks("", [], None) == [{"text": ""}]


def test_files_nobody_read_are_named_not_hidden() -> None:
    files = [{"id": "F1", "name": "a\nb.txt"}, {"id": "F2"}]
    assert prompt_blocks("", files, None) == [
        {"text": NO_TEXT},
        {"text": "[Attached but not read, so you have not seen them: a b.txt, F2]"},
    ]


def test_read_files_follow_the_text_then_what_could_not_be_read() -> None:
    read = FileInput([media_label("photo.png", "image"), PNG_BLOCK], ["x.zip: unsupported"])
    blocks = prompt_blocks("look", [{"id": "F1"}, {"id": "F2"}], read)
    assert blocks[:3] == [{"text": "look"}, {"text": "File photo.png (image):"}, PNG_BLOCK]
    assert blocks[3]["text"].endswith("(the user is told): x.zip: unsupported]")
    assert answer_note(read.problems) == "\n\n:warning: I couldn't read x.zip: unsupported."


def test_storage_keeps_a_placeholder_for_each_labelled_or_unlabelled_medium() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"text": "look"},
                media_label("photo.png", "image"),
                PNG_BLOCK,
                media_label("Q3 report.pdf", "PDF"),
                PDF_BLOCK,
                PNG_BLOCK,  # no label: a generic placeholder
            ],
        },
        {"role": "assistant", "content": [PNG_BLOCK]},  # only user messages are shrunk
    ]
    shrink_for_storage(messages)
    assert messages[0]["content"] == [
        {"text": "look"},
        {"text": "[image photo.png was shown to you in this turn]"},
        {"text": "[PDF Q3 report.pdf was shown to you in this turn]"},
        {"text": "[an image was shown to you in this turn]"},
    ]
    assert messages[1]["content"] == [PNG_BLOCK]
