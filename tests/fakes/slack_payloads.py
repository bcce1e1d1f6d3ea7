"""Slack payloads for tests, built from the real bodies in tests/payloads/.

tests/payloads/README.md names each body's public source. The builders here copy one of
those bodies and change only ids, timestamps and text: never a key, a null or a nesting.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"
BOT_USER = "UBOT"  # what the fake Web API's auth.test answers
# Non-Grid workspace (enterprise_id null), captured traffic: the most common real shape.
MENTION = "11_app_mention_real_enterprise_null.json"
MESSAGE = "22_message_im_real.json"  # a person's message, captured traffic
SHORTCUT = "80_message_action_reset_real_enterprise_null.form.json"  # enterprise: null
COMMAND = "72_slash_command_reset_threadA.txt"  # non-Grid workspace, captured
BLOCK_ACTION = "85_block_actions_static_select_ephemeral.form.json"  # enterprise: null, captured
BUTTON = "87_block_actions_button_grid_bolt.form.json"  # its actions[0]: a button click
FILE_SHARE = "28_message_file_share_channel.json"  # a PNG shared in a channel (bolt-python)
FILE_SNIPPET = "21_message_im_file_share_real.json"  # captured: a text snippet in a DM
ACTIONS_URL = "http://127.0.0.1:9/actions"  # response_url: nothing listens there
_event_seq = itertools.count(1)


@functools.cache
def _read(name: str) -> str:
    return (PAYLOADS / name).read_text()


def load(name: str) -> dict[str, Any]:
    """A fresh copy of one real body: JSON, interactive JSON, or a form (`*.txt`)."""
    text = _read(name)
    if name.endswith(".txt"):
        return dict(parse_qsl(text.strip(), keep_blank_values=True))
    return copy.deepcopy(json.loads(text))


def raw_body(name: str) -> tuple[str, str]:
    """(content type, body) of a stored payload, exactly as Slack sends it over HTTP."""
    text = _read(name).strip()
    if name.endswith(".form.json"):
        return "application/x-www-form-urlencoded", "payload=" + quote(text, safe="")
    if name.endswith(".txt"):
        return "application/x-www-form-urlencoded", text
    return "application/json", text


def new_event_id() -> str:
    return f"Ev{next(_event_seq):06d}{uuid.uuid4().hex[:8].upper()}"


def event_callback(
    event: dict[str, Any], event_id: str | None = None, team_id: str = "T1"
) -> dict[str, Any]:
    """The Events API envelope Slack wraps around `event`, for workspace `team_id`."""
    body = load(MENTION)
    body.update(
        team_id=team_id,
        event=event,
        event_id=event_id or new_event_id(),
        event_time=int(time.time()),
    )
    body["authorizations"][0].update(team_id=team_id, user_id=BOT_USER)
    return body


def _set_text(event: dict[str, Any], text: str) -> None:
    event["text"] = text
    section = event["blocks"][0]["elements"][0]
    section["elements"] = [{"type": "text", "text": text}]
    event["client_msg_id"] = str(uuid.uuid4())


def mention_event(
    text: str,
    channel: str,
    ts: str,
    thread_ts: str | None = None,
    user: str = "U1",
    team: str = "T1",
) -> dict[str, Any]:
    """An `app_mention` of the bot; with `thread_ts`, one written inside that thread."""
    return _person(MENTION, f"<@{BOT_USER}> {text}", channel, ts, thread_ts, user, team=team)


def message_event(
    text: str,
    channel: str,
    ts: str,
    thread_ts: str | None = None,
    user: str = "U1",
    channel_type: str = "channel",
    team: str = "T1",
) -> dict[str, Any]:
    """A person's `message`; with `thread_ts`, a reply in that thread."""
    return _person(
        MESSAGE, text, channel, ts, thread_ts, user, channel_type=channel_type, team=team
    )


def _person(
    source: str, text: str, channel: str, ts: str, thread_ts: str | None, user: str, **fields: Any
) -> dict[str, Any]:
    """The event of stored body `source` as `user`'s message `text` (ids and `fields` set)."""
    event = load(source)["event"]
    _set_text(event, text)
    event.update(user=user, ts=ts, event_ts=ts, channel=channel, **fields)
    if thread_ts:
        event.update(thread_ts=thread_ts, parent_user_id=user)
    return event


def slack_file(
    name: str,
    url: str,
    mimetype: str,
    filetype: str,
    size: int,
    file_id: str | None = None,
    source: str = FILE_SHARE,
) -> dict[str, Any]:
    """The file object of a stored file_share body (a hosted PNG, or with FILE_SNIPPET a
    text snippet) standing for another file: id, name, type, size and URLs changed."""
    file = load(source)["event"]["files"][0]
    file.update(
        id=file_id or f"F{uuid.uuid4().hex[:10].upper()}",
        name=name,
        title=name,
        mimetype=mimetype,
        filetype=filetype,
        size=size,
        url_private=url,
        url_private_download=url,
    )
    return file


def file_share_event(
    text: str,
    channel: str,
    ts: str,
    files: list[dict[str, Any]],
    thread_ts: str | None = None,
    user: str = "U1",
    channel_type: str = "channel",
) -> dict[str, Any]:
    """A person's `file_share` message carrying `files`; with `thread_ts`, in that thread."""
    return _person(
        FILE_SHARE, text, channel, ts, thread_ts, user, channel_type=channel_type, files=files
    )


def command_form(
    text: str,
    channel: str = "C1",
    user: str = "U1",
    team: str = "T1",
    command: str = "/reset",
    channel_name: str = "general",
) -> dict[str, str]:
    """A slash command's form fields."""
    form = load(COMMAND)
    form.update(
        command=command,
        text=text,
        channel_id=channel,
        user_id=user,
        team_id=team,
        channel_name=channel_name,
        response_url="http://127.0.0.1:9/commands",
    )
    return form


def message_shortcut(
    channel: str,
    message: dict[str, Any],
    user: str = "U1",
    team: str = "T1",
    callback_id: str = "reset_conversation",
) -> dict[str, Any]:
    """A message shortcut (`message_action`) on `message`."""
    payload = load(SHORTCUT)
    payload.update(callback_id=callback_id, message=message, message_ts=message["ts"])
    _from(payload, user, team, channel)
    return payload


def _from(payload: dict[str, Any], user: str, team: str, channel: str) -> None:
    """An interactive payload sent by `user` of `team` in `channel`; answers go nowhere."""
    payload["team"]["id"] = team
    payload["user"].update(id=user, team_id=team)
    payload["channel"]["id"] = channel
    payload["response_url"] = ACTIONS_URL


def block_action(
    action: dict[str, Any], channel: str, message_ts: str, user: str = "U1", team: str = "T1"
) -> dict[str, Any]:
    """A `block_actions` click on the bot's (not ephemeral) message `message_ts`.

    The envelope is the captured body 85 (non-Grid, `enterprise: null`) with ids changed,
    `container.is_ephemeral` false and no select state; `action` is its `actions[0]`.
    """
    payload = load(BLOCK_ACTION)
    _from(payload, user, team, channel)
    payload["container"].update(message_ts=message_ts, channel_id=channel, is_ephemeral=False)
    payload["state"]["values"] = {}
    payload["actions"] = [action]
    return payload


def button_action(action_id: str, value: str) -> dict[str, Any]:
    """`actions[0]` of a button click: body 87's button action with its id and value."""
    action = load(BUTTON)["actions"][0]
    action.update(action_id=action_id, value=value, action_ts=f"{time.time():.6f}")
    return action


def feedback_action(action_id: str, value: str, positive: bool = True) -> dict[str, Any]:
    """`actions[0]` of a click on a `feedback_buttons` element.

    No captured body exists in tests/payloads. The shape is Slack's, as typed by the
    slackapi SDK: bolt-js `FeedbackButtonsAction` (src/types/actions/block-action.ts, added
    in slackapi/bolt-js#2665; https://docs.slack.dev/tools/bolt-js/reference/interfaces/
    FeedbackButtonsAction) = the button action's `type`, `block_id`, `action_id`,
    `action_ts`, plus `text` (plain_text) and `value` of the clicked button, as in body 87.
    """
    action = button_action(action_id, value)
    action.update(
        type="feedback_buttons",
        text={"type": "plain_text", "text": "👍" if positive else "👎", "emoji": True},
    )
    return action


# --- the agent messaging experience (sources: tests/payloads/README.md, files 49b and 64-67) ------
SESSION_STOPPED = "64_agent_session_stopped.json"
CONTEXT_CHANGED = "65_app_context_changed_channel.json"
MESSAGE_CONTEXT_CHANGED = "66_app_context_changed_message.json"
MESSAGE_WITH_CONTEXT = "49b_message_im_app_context.json"
HOME_OPENED = "51_app_home_opened_org_app.json"  # tab "messages"


def session_stopped_event(
    channel: str, thread_ts: str, streaming: list[str], user: str = "U1"
) -> dict[str, Any]:
    """`agent_session_stopped`: `user` pressed Slack's own stop on the thread's session,
    whose streaming messages (their ts) Slack has already stopped."""
    event = load(SESSION_STOPPED)["event"]
    event.update(
        channel=channel,
        thread_ts=thread_ts,
        user=user,
        streaming_message_ts=list(streaming),
        event_ts=f"{time.time():.6f}",
    )
    return event


def channel_entity(channel: str, team: str = "T1") -> dict[str, Any]:
    """A `slack#/types/channel_id` entity: the user is viewing `channel`."""
    entity = load(CONTEXT_CHANGED)["event"]["context"]["entities"][0]
    entity.update(value=channel, team_id=team)
    return entity


def message_entity(channel: str, message_ts: str, team: str = "T1") -> dict[str, Any]:
    """A `slack#/types/message_context` entity: the user is viewing one message."""
    entity = load(MESSAGE_CONTEXT_CHANGED)["event"]["context"]["entities"][0]
    entity.update(value={"message_ts": message_ts, "channel_id": channel}, team_id=team)
    return entity


def context_changed_event(
    entities: list[dict[str, Any]], user: str = "U1", channel: str = "D1"
) -> dict[str, Any]:
    """`app_context_changed`: what `user` views now (`channel`: the bot's DM with them);
    no entities: the context Slack sends empty."""
    event = load(CONTEXT_CHANGED)["event"]
    event.update(user=user, channel=channel, event_ts=f"{time.time():.6f}")
    event["context"] = {"entities": entities} if entities else {}
    return event


def agent_view_message(
    text: str, channel: str, ts: str, entities: list[dict[str, Any]], user: str = "U1"
) -> dict[str, Any]:
    """A message in the bot's messages tab (agent view), carrying `app_context` inline."""
    event = load(MESSAGE_WITH_CONTEXT)["event"]
    event.update(text=text, channel=channel, ts=ts, event_ts=ts, user=user)
    event["app_context"] = {"entities": entities}
    return event


def home_opened_event(tab: str, user: str = "U1", channel: str = "D1") -> dict[str, Any]:
    """`app_home_opened` on `tab` ("messages": the agent view; "home": the Home tab)."""
    event = load(HOME_OPENED)["event"]
    event.update(tab=tab, user=user, channel=channel, event_ts=f"{time.time():.6f}")
    return event


VIEW_SUBMISSION = "91_view_submission_grid_bolt.form.json"  # bolt-python's scenario test body
_VIEW_SENT = ("id", "type", "blocks", "private_metadata", "callback_id", "hash", "title")


def view_submission(
    view: dict[str, Any], values: dict[str, Any], user: str = "U1", team: str = "T1"
) -> dict[str, Any]:
    """`user` submits the modal `view` (as views.open stored it) with `values` as its
    `view.state.values` ({block_id: {action_id: value}}, shapes: tests/support/questions.py).

    The envelope is body 91 with ids changed; Slack sends the view as it was opened (id,
    hash, blocks, private_metadata, callback_id, title, submit, close) plus its state.
    """
    payload = load(VIEW_SUBMISSION)
    payload["team"]["id"] = team
    payload["user"].update(id=user, team_id=team)
    payload["trigger_id"] = f"{int(time.time())}.{uuid.uuid4().int % 10**12}.x"
    sent = payload["view"]
    sent.update({key: view[key] for key in _VIEW_SENT if key in view})
    for key in ("submit", "close"):
        sent[key] = view.get(key)
    sent.update(team_id=team, root_view_id=view["id"], app_installed_team_id=team)
    sent["state"] = {"values": values}
    return payload
