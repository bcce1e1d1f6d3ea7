"""What the listeners are given: the ack path and the few stores they read or clean up."""

from __future__ import annotations

from dataclasses import dataclass

from bot.agent.personas import Personas
from bot.intake.intake import Intake
from bot.slack.clients import SlackClients
from bot.store.sessions import SessionStore
from bot.store.state import State


@dataclass(frozen=True)
class ListenerDeps:
    intake: Intake  # messages in: take, accept, is_joined
    state: State  # votes, stop clicks, /reset's checks, other apps' posts, an uninstall
    slack: SlackClients  # each job's installation; forgetting an uninstalled one
    personas: Personas  # routing by persona name; suggested prompts
    sessions: SessionStore  # an uninstall deletes the team's sessions
    approvers: tuple[str, ...] = ()  # APPROVERS: who may decide any approval
