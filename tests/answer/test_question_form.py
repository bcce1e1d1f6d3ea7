"""The form of a tool's question (bot/answer/question_form.py): MCP's requested schemas as
modals the strict fake's views.open accepts, and submitted values read and checked."""

from __future__ import annotations

import pytest

from bot.answer.question_form import FIELDS_MAX, modal, read
from tests.fakes.slack_modals import check_modal
from tests.fakes.slack_rules import Refused
from tests.support.questions import state

# Every field kind MCP's requested schema allows (modelcontextprotocol.io, Elicitation).
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Name", "minLength": 2, "maxLength": 40},
        "email": {"type": "string", "format": "email", "description": "Where we write"},
        "site": {"type": "string", "format": "uri"},
        "day": {"type": "string", "format": "date", "default": "2026-12-24"},
        "seats": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2},
        "budget": {"type": "number", "maximum": 99.5},
        "vip": {"type": "boolean", "default": True},
        "size": {"type": "string", "enum": ["s", "m"], "enumNames": ["Small", "Medium"]},
        "tier": {"type": "string", "oneOf": [{"const": "gold", "title": "Gold"}]},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
    },
    "required": ["name", "seats", "size"],
}


def inputs(view: dict) -> dict[str, dict]:
    return {b["label"]["text"]: b for b in view["blocks"] if b["type"] == "input"}


def _state(view: dict, answers: dict) -> dict:
    """The submitted state of `view` with `answers` by label (multi-selects left empty)."""
    found = inputs(view)
    return {
        block["block_id"]: {"value": state(block["element"], answers.get(label))}
        for label, block in found.items()
        if block["element"]["type"] not in ("multi_static_select",)
    }


def test_every_field_kind_becomes_an_input_slack_accepts() -> None:
    view = modal("q1", "tables", "Which day?", SCHEMA)
    check_modal(view)  # raises Refused where Slack would refuse the view
    kinds = {label: b["element"]["type"] for label, b in inputs(view).items()}
    assert kinds == {
        "Name": "plain_text_input",
        "email": "email_text_input",
        "site": "url_text_input",
        "day": "datepicker",
        "seats": "number_input",
        "budget": "number_input",
        "vip": "checkboxes",
        "size": "static_select",
        "tier": "static_select",
        "tags": "multi_static_select",
    }
    shown = inputs(view)
    assert shown["seats"]["element"]["initial_value"] == "2" and not shown["seats"]["optional"]
    assert shown["day"]["element"]["initial_date"] == "2026-12-24" and shown["day"]["optional"]
    assert shown["email"]["hint"]["text"] == "Where we write"
    assert view["private_metadata"] == "q1" and len(view["title"]["text"]) <= 24


def test_a_huge_or_hostile_schema_still_makes_a_valid_modal() -> None:
    many = {f"f{i}": {"type": "string", "title": "x" * 5000} for i in range(FIELDS_MAX + 30)}
    options = {"type": "string", "enum": [f"v{i}" * 50 for i in range(300)]}
    view = modal(
        "q" * 40, "a-very-long-server-name", "m" * 10_000, {"properties": {**many, "o": options}}
    )
    check_modal(view)
    assert len(inputs(view)) <= FIELDS_MAX


def test_good_values_are_read_as_the_schema_types() -> None:
    view = modal("q1", "tables", "?", SCHEMA)
    answers = {
        "Name": "Ada",
        "email": "ada@example.com",
        "seats": "3",
        "budget": "12.5",
        "vip": True,
        "size": "m",
        "day": "2026-12-04",
    }
    content, errors = read(SCHEMA, _state(view, answers))
    assert errors == {}
    assert content == {
        "name": "Ada",
        "email": "ada@example.com",
        "seats": 3,
        "budget": 12.5,
        "vip": True,
        "size": "m",
        "day": "2026-12-04",
    }


@pytest.mark.parametrize(
    ("answers", "label", "message"),
    [
        ({"Name": "A", "seats": "2", "size": "s"}, "Name", "At least 2 characters."),
        ({"Name": "Ada", "seats": "9", "size": "s"}, "seats", "At most 8."),
        ({"Name": "Ada", "seats": "2.5", "size": "s"}, "seats", "Enter a whole number."),
        ({"Name": "Ada", "seats": "2"}, "size", "Please fill this in."),
        (
            {"Name": "Ada", "seats": "2", "size": "s", "email": "nope"},
            "email",
            "Enter an email address.",
        ),
        ({"Name": "Ada", "seats": "2", "size": "s", "budget": "100"}, "budget", "At most 99.5."),
    ],
)
def test_a_mistake_is_shown_beside_its_field(answers: dict, label: str, message: str) -> None:
    view = modal("q1", "tables", "?", SCHEMA)
    content, errors = read(SCHEMA, _state(view, answers))
    assert errors == {inputs(view)[label]["block_id"]: message}


def test_a_choice_not_offered_is_refused() -> None:
    view = modal("q1", "tables", "?", SCHEMA)
    forged = _state(view, {"Name": "Ada", "seats": "2", "size": "s"})
    block = inputs(view)["size"]["block_id"]
    forged[block]["value"]["selected_option"] = {
        "text": {"type": "plain_text", "text": "X"},
        "value": "xl",
    }
    assert read(SCHEMA, forged)[1] == {block: "Pick from the list."}


def test_the_fake_refuses_what_slack_refuses() -> None:
    view = modal("q1", "tables", "?", SCHEMA)
    with pytest.raises(Refused):
        check_modal({**view, "title": {"type": "plain_text", "text": "x" * 25}})
    with pytest.raises(Refused):
        check_modal({k: v for k, v in view.items() if k != "submit"})
