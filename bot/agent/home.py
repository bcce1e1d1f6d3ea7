"""The Home tab: the user's latest conversations with the bot (each with a Reset button),
then the personas and what each is for. Published with one views.publish and nothing read
from Slack: the list is the state store's (bot/answer/home_threads.py)."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_sdk import WebClient

from bot.agent.help import persona_line
from bot.agent.personas import Personas
from bot.answer.home_threads import HomeThread, record_reset, threads
from bot.answer.slack_format import slack_date
from bot.jobs import Job
from bot.slack.clients import SlackClients
from bot.store.state import Facts

log = logging.getLogger(__name__)
HOME_RESET_ACTION = "home_reset_thread"
# views.publish takes at most 100 blocks: the header blocks, HOME_THREADS_MAX threads, and
# this many personas (a longer list ends with how many more there are).
MAX_PERSONA_BLOCKS = 40
SECTION_MAX = 3_000  # a section's text (Block Kit)
NO_THREADS = (
    "No conversations yet. Mention me in a channel, or write to me in the *Messages* tab: "
    "each thread is its own conversation."
)


def publish_home(client: WebClient, state: Facts, personas: Personas, team: str, user: str) -> None:
    """Publish `user`'s Home view (one Web API call). Failures are logged, never raised."""
    try:
        client.views_publish(user_id=user, view=home_view(threads(state, team, user), personas))
    except Exception as exc:  # the Home tab keeps its last view (the store or Slack failed)
        log.warning("could not publish the Home tab of %s: %s", user, exc)


def after_reset(state: Facts, clients: SlackClients, personas: Personas, job: Job) -> None:
    """A reset is done: its thread is `closed` on the resetter's Home tab, which is published
    again when the reset came from there."""
    record_reset(state, clients, job)
    if not job.from_home:
        return
    try:
        client = clients.for_job(job)
    except Exception as exc:  # uninstalled meanwhile: no Home tab to show
        log.info("no Home tab to publish for %s: %s", job.user, exc)
        return
    publish_home(client, state, personas, job.team, job.user)


def home_view(listed: list[HomeThread], personas: Personas) -> dict[str, Any]:
    """The Home view: a header, one section per thread (newest first), the personas."""
    blocks: list[dict[str, Any]] = [_header("Your conversations")]
    blocks += [_thread_block(thread) for thread in listed] or [_section(NO_THREADS)]
    blocks += [{"type": "divider"}, _header("Personas")]
    shown = personas.all[:MAX_PERSONA_BLOCKS]
    blocks += [_section(persona_line(persona)) for persona in shown]
    if len(personas.all) > len(shown):
        blocks.append(_section(f"…and {len(personas.all) - len(shown)} more: ask me `help`."))
    return {"type": "home", "blocks": blocks}


def reset_value(thread: HomeThread) -> str:
    """The Reset button's value: the thread it resets."""
    return json.dumps({"channel": thread.channel, "thread_ts": thread.thread_ts})


def parse_reset_value(value: object) -> tuple[str, str] | None:
    """(channel, thread_ts) from a Reset button's value; None if it is not one of ours."""
    try:
        data = json.loads(str(value))
        channel, thread_ts = data["channel"], data["thread_ts"]
    except (ValueError, TypeError, KeyError):
        return None
    ok = isinstance(channel, str) and isinstance(thread_ts, str) and channel and thread_ts
    return (channel, thread_ts) if ok else None


def _thread_block(thread: HomeThread) -> dict[str, Any]:
    title = _escape(thread.title or "Conversation")
    when = slack_date(thread.at, fallback=str(thread.at))
    persona = f"`{_escape(thread.persona)}` · " if thread.persona else ""
    text = f"*<{thread.link}|{title}>*\n{persona}{thread.status} · last activity {when}"
    block = _section(text)
    block["accessory"] = {
        "type": "button",
        "action_id": HOME_RESET_ACTION,
        "text": {"type": "plain_text", "text": "Reset"},
        "value": reset_value(thread),
    }
    return block


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_MAX]}}


def _escape(text: str) -> str:
    """Slack's three control characters, so a title cannot break its link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
