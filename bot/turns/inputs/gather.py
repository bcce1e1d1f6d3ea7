"""Inputs: what a turn gives the model besides its messages, gathered before the model call.

The thread so far (read from Slack on a persona's first turn in a thread it joined
midway), other apps' posts noted since the last turn (bot/turns/inputs/thread_context.py), and
the files of the queued messages, read within the turn's budget (bot/turns/inputs/files.py),
and on a DM turn what the user views in Slack (bot/turns/inputs/viewing.py).
The notes are shared state: they are dropped only once the turn that read them commits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.agent.personas import Persona, Personas
from bot.agent.turn import TurnInputs
from bot.jobs import Job
from bot.slack.clients import SlackClients
from bot.store.facts import RESET
from bot.store.state import Facts
from bot.turns.inputs.files import FileLimits, read_for_jobs
from bot.turns.inputs.thread_context import ThreadReader, wants_earlier
from bot.turns.inputs.thread_notes import consumed, notes_text, pending_notes
from bot.turns.inputs.viewing import ViewingContext


@dataclass(frozen=True)
class GatheredInputs:
    """A turn's inputs, and the other apps' posts they used (dropped once it commits)."""

    inputs: TurnInputs
    session_id: str
    notes: int


class InputGatherer:
    """Builds each turn's `TurnInputs`; one per conversation."""

    def __init__(
        self,
        state: Facts,
        clients: SlackClients,
        personas: Personas,
        reader: ThreadReader | None = None,
        bot_user_id: Callable[[Job], str] = lambda job: "",
        file_limits: FileLimits | None = None,
    ) -> None:
        self.state, self.clients, self.personas = state, clients, personas
        self.reader, self.bot_user_id = reader, bot_user_id
        self.file_limits = file_limits or FileLimits()
        self.viewing = ViewingContext(state, reader)

    def gather(self, batch: list[Job], persona: Persona, has_history: bool) -> GatheredInputs:
        """The inputs of `persona`'s turn on `batch`; `has_history`: it spoke here before."""
        first = batch[0]
        earlier = self._earlier(first) if wants_earlier(first, has_history) else None
        notes, count = pending_notes(self.state, first.session_id)
        last, client = batch[-1], self.clients.for_job(batch[-1])
        viewing = self.viewing.for_turn(last, self.bot_user_id(last), client)
        preamble = tuple(text for text in (earlier, notes_text(notes), viewing) if text)
        token = client.token or ""
        provider = persona.provider or self.personas.default_provider
        files = read_for_jobs(batch, token, provider, self.file_limits)
        inputs = TurnInputs(preamble, files)
        return GatheredInputs(inputs, first.session_id, count)

    def _earlier(self, first: Job) -> str | None:
        """The thread before `first` (since its last reset), as a transcript, or None."""
        if self.reader is None:
            return None
        return self.reader.earlier(
            first.channel,
            first.thread_ts,
            first.ts,
            self.bot_user_id(first),
            since_ts=self.state.fact(RESET.key(first.session_id)),
            client=self.clients.for_job(first),
        )

    def committed(self, gathered: GatheredInputs) -> None:
        """The turn that used `gathered` is committed: its notes are consumed."""
        consumed(self.state, gathered.session_id, gathered.notes)
