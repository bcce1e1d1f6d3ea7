"""A tool's question in a thread, and the person answering it as Slack sends it: a click on
Answer / Decline (captured body 85's envelope, body 87's button) with a trigger the fake
Slack minted, and the modal's submission (body 91's envelope, tests/fakes/slack_payloads.py).

Submitted values take the shapes Slack documents for `view.state.values`
(docs.slack.dev/reference/interaction-payloads/view-interactions-payload, and bolt-js
`ViewStateValue`, src/types/view/index.ts): text inputs `value`, number_input `value` (a
string), static_select `selected_option`, multi_static_select and checkboxes
`selected_options`, datepicker `selected_date`, datetimepicker `selected_date_time`.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_payloads import block_action, button_action, view_submission
from tests.support.approvals import buttons, shown, text_of
from tests.support.wait import wait_until


def question(slack: FakeSlack, root: str, settled: str = "") -> dict[str, Any]:
    """The tool's question in the thread (once its text shows `settled`, when given)."""
    found = wait_until(
        lambda: next(
            (
                m
                for m in shown(slack, root)
                if "asks" in text_of(m) and ":question:" in text_of(m) and settled in text_of(m)
            ),
            None,
        ),
        20,
        f"the tool's question{' ' + settled if settled else ''}",
    )
    return copy.deepcopy(found)


def click(
    slack: FakeSlack, message: dict[str, Any], action_id: str, user: str = "U1"
) -> dict[str, Any]:
    """`user` clicks `action_id` on `message` in C1, with a trigger minted for them."""
    value = buttons(message)[action_id]["value"]
    payload = block_action(button_action(action_id, value), "C1", message["ts"], user=user)
    payload["trigger_id"] = slack.modals.trigger(user)
    return payload


def state(element: dict[str, Any], value: Any) -> dict[str, Any]:
    """The state Slack submits for one input `element` holding `value`."""
    kind = element["type"]
    if kind in ("plain_text_input", "email_text_input", "url_text_input", "number_input"):
        return {"type": kind, "value": None if value is None else str(value)}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind == "checkboxes":
        picked = element["options"] if value else []
        return {"type": kind, "selected_options": picked}
    if kind == "static_select":
        option = next((o for o in element["options"] if o["value"] == value), None)
        return {"type": kind, "selected_option": option}
    raise AssertionError(f"no state shape for {kind} in these tests")


def submit(view: dict[str, Any], answers: dict[str, Any], user: str = "U1") -> dict[str, Any]:
    """The submission of `view` with `answers` by field label ({"Seats": 2, ...})."""
    values = {}
    for block in view["blocks"]:
        if block["type"] != "input":
            continue
        label, element = block["label"]["text"], block["element"]
        values[block["block_id"]] = {element["action_id"]: state(element, answers.get(label))}
    return view_submission(view, values, user=user)
