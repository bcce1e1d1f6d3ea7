"""The form of a tool's question (MCP elicitation): its requested schema as a Slack modal,
and the modal's submitted values read back and checked against that schema.

MCP asks with a flat object schema of primitive fields (modelcontextprotocol.io, "Elicitation",
requested schema): strings (`minLength`, `maxLength`, `format` email / uri / date /
date-time), numbers and integers (`minimum`, `maximum`), booleans, single-choice enums
(`enum`, or `oneOf` of `{const, title}`) and multiple-choice ones (`type: array` whose
`items` are such an enum). Each field becomes one input block, in the schema's order.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

QUESTION_VIEW = "tool_question"  # the modal's callback_id
FIELDS_MAX = 40  # a modal holds 100 blocks; no sensible form has more fields
_VALUE = "value"  # every input's action_id (each block holds one)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TEXT_MAX = 3000  # plain_text_input max_length (block-elements/plain-text-input-element)
_OPTIONS_MAX = 100  # static_select options (block-elements/select-menu-element)


def fields(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The schema's fields (name, its schema), in order, at most FIELDS_MAX."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return []
    found = [(str(n), s) for n, s in properties.items() if isinstance(s, dict)]
    return found[:FIELDS_MAX]


def _plain(text: str, limit: int) -> dict[str, Any]:
    text = text.strip() or "…"
    return {"type": "plain_text", "text": text if len(text) <= limit else text[: limit - 1] + "…"}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def choices(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(value, label) of a single-choice field (`enum` with `enumNames`, or `oneOf`)."""
    if spec.get("oneOf") is not None:
        return [
            (str(o["const"]), str(o.get("title") or o["const"]))
            for o in _list(spec.get("oneOf"))
            if isinstance(o, dict) and "const" in o
        ]
    names = _list(spec.get("enumNames"))
    return [
        (str(v), str(names[i]) if i < len(names) else str(v))
        for i, v in enumerate(_list(spec.get("enum")))
    ]


def _options(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"text": _plain(label, 75), "value": value[:150]} for value, label in pairs][
        :_OPTIONS_MAX
    ]


def _initial(element: dict[str, Any], key: str, value: Any, shown: bool) -> dict[str, Any]:
    """`element` showing `value` first (its default) when `shown`."""
    return {**element, key: value} if shown else element


def _element(spec: dict[str, Any]) -> dict[str, Any]:
    """The input element for one field, with its default shown."""
    kind, default = spec.get("type"), spec.get("default")
    if kind == "array":
        options = _options(choices(_dict(spec.get("items"))))
        initial = [o for o in options if o["value"] in map(str, _list(default))]
        element = {"type": "multi_static_select", "options": options}
        return _initial(element, "initial_options", initial, bool(initial))
    if picked := choices(spec):
        options = _options(picked)
        initial = [o for o in options if o["value"] == str(default)]
        element = {"type": "static_select", "options": options}
        return _initial(element, "initial_option", initial[0] if initial else None, bool(initial))
    if kind == "boolean":
        yes = {"text": _plain("Yes", 75), "value": "true"}
        element = {"type": "checkboxes", "options": [yes]}
        return _initial(element, "initial_options", [yes], default is True)
    if kind in ("number", "integer"):
        return _number_element(spec, kind == "number")
    match spec.get("format"):
        case "email":
            return {"type": "email_text_input"}
        case "uri":
            return {"type": "url_text_input"}
        case "date":
            element = {"type": "datepicker"}
            return _initial(element, "initial_date", default, isinstance(default, str))
        case "date-time":
            return {"type": "datetimepicker"}
    return _text_element(spec)


def _number_element(spec: dict[str, Any], decimals: bool) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "number_input", "is_decimal_allowed": decimals}
    for key, slack in (("minimum", "min_value"), ("maximum", "max_value")):
        if isinstance(spec.get(key), int | float):
            element[slack] = str(spec[key])
    default = spec.get("default")
    return _initial(element, "initial_value", str(default), isinstance(default, int | float))


def _text_element(spec: dict[str, Any]) -> dict[str, Any]:
    longest = spec.get("maxLength")
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "multiline": not isinstance(longest, int) or longest > 150,
    }
    for key, slack in (("minLength", "min_length"), ("maxLength", "max_length")):
        if isinstance(spec.get(key), int) and 0 <= spec[key] <= _TEXT_MAX:
            element[slack] = spec[key]
    default = spec.get("default")
    return _initial(element, "initial_value", default, isinstance(default, str))


def _block_id(index: int) -> str:
    """The input block of the schema's field number `index` (read back by its position)."""
    return f"field-{index}"


def modal(question_id: str, server: str, message: str, schema: dict[str, Any]) -> dict[str, Any]:
    """The modal asking `message` with the schema's fields (`private_metadata`: the id)."""
    required = set(schema.get("required") or [])
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": message[:3000] or "…"}}
    ]
    for i, (name, spec) in enumerate(fields(schema)):
        block: dict[str, Any] = {
            "type": "input",
            "block_id": _block_id(i),
            "label": _plain(str(spec.get("title") or name), 2000),
            "element": {**_element(spec), "action_id": _VALUE},
            "optional": name not in required or spec.get("type") == "boolean",
        }
        if isinstance(spec.get("description"), str) and spec["description"].strip():
            block["hint"] = _plain(spec["description"], 2000)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": QUESTION_VIEW,
        "private_metadata": question_id,
        "title": _plain(f"{server} asks", 24),
        "submit": _plain("Send", 24),
        "close": _plain("Cancel", 24),
        "blocks": blocks,
    }


def read(schema: dict[str, Any], values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted `view.state.values` as the schema's content, and the errors to show
    ({block_id: message}); content counts only when there are no errors."""
    required = set(schema.get("required") or [])
    content: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for i, (name, spec) in enumerate(fields(schema)):
        block_id = _block_id(i)
        state = (values.get(block_id) or {}).get(_VALUE) or {}
        try:
            value = _value(spec, state)
        except ValueError as exc:
            errors[block_id] = str(exc)
            continue
        if value is None:
            if name in required and spec.get("type") != "boolean":
                errors[block_id] = "Please fill this in."
            continue
        content[name] = value
    return content, errors


def _value(spec: dict[str, Any], state: dict[str, Any]) -> Any:
    """One field's submitted value, checked; None when left empty."""
    kind = spec.get("type")
    if kind == "array":
        picked = [o.get("value") for o in state.get("selected_options") or []]
        allowed = {v for v, _ in choices(_dict(spec.get("items")))}
        if any(v not in allowed for v in picked):
            raise ValueError("Pick from the list.")
        return picked or None
    if offered := choices(spec):
        chosen = (state.get("selected_option") or {}).get("value")
        if chosen is not None and chosen not in {v for v, _ in offered}:
            raise ValueError("Pick from the list.")
        return chosen
    if kind == "boolean":
        return bool(state.get("selected_options"))
    if kind in ("number", "integer"):
        return _number(spec, state.get("value"))
    if spec.get("format") == "date":
        return state.get("selected_date") or None
    if spec.get("format") == "date-time":
        at = state.get("selected_date_time")
        return dt.datetime.fromtimestamp(at, dt.UTC).isoformat() if isinstance(at, int) else None
    return _text(spec, state.get("value"))


def _number(spec: dict[str, Any], raw: Any) -> int | float | None:
    if raw in (None, ""):
        return None
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise ValueError("Enter a number.") from None
    if spec.get("type") == "integer":
        if not number.is_integer():
            raise ValueError("Enter a whole number.")
        number = int(number)
    low, high = spec.get("minimum"), spec.get("maximum")
    if isinstance(low, int | float) and number < low:
        raise ValueError(f"At least {low}.")
    if isinstance(high, int | float) and number > high:
        raise ValueError(f"At most {high}.")
    return number


def _text(spec: dict[str, Any], raw: Any) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    low, high = spec.get("minLength"), spec.get("maxLength")
    if isinstance(low, int) and len(raw) < low:
        raise ValueError(f"At least {low} characters.")
    if isinstance(high, int) and len(raw) > high:
        raise ValueError(f"At most {high} characters.")
    if spec.get("format") == "email" and not _EMAIL.match(raw):
        raise ValueError("Enter an email address.")
    if spec.get("format") == "uri" and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:\S+$", raw):
        raise ValueError("Enter a link.")
    return raw
