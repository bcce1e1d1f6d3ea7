"""Finding 8 (output): what the model writes cannot ping a channel or unfurl links.

A prompt injection (a pasted text, another app's post, a file) can make the model write
<!channel>; the answer must reach Slack with every broadcast mention neutralised, on every
path (streamed, posted, the final update, the notification text), and answers are posted
with link unfurling off. Checked through the real bot against the strict fake Slack.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakes.model import ScriptedModel
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_rules import BROADCAST
from tests.support.bot import settle

HOSTILE = (
    "Done! <!channel> please read this. <!here|here> and <!everyone> too; "
    "<!subteam^S0123ABC|@oncall> is paged. Also @here and @channel, "
    "see https://evil.example/track?u=1 and <https://evil.example/x|this link>."
)


def sent_strings(slack: FakeSlack) -> list[str]:
    """Every string any call to Slack carried (text, markdown, chunks, blocks)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            try:
                decoded = json.loads(node)
            except ValueError:
                out.append(node)
                return
            walk(decoded) if isinstance(decoded, list | dict) else out.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for call in slack.calls():
        walk(call.params)
    return out


def assert_no_broadcast(slack: FakeSlack, root: str) -> None:
    shown = slack.bot_messages("C1", root)
    assert shown and all(m.pings == () for m in shown), [m.pings for m in shown]
    leaked = [s for s in sent_strings(slack) if BROADCAST.search(s)]
    assert leaked == [], leaked
    text = "\n".join(m.text for m in shown)
    assert "please read this" in text and "evil.example" in text  # the rest is intact


def answer_posts(slack: FakeSlack) -> list[dict[str, Any]]:
    return [c.params for c in slack.calls("chat.postMessage") if c.params.get("metadata")]


@pytest.mark.parametrize("streaming", ["off", "on"])
def test_model_output_cannot_ping_the_channel(
    make_bot, fake_slack: FakeSlack, streaming: str
) -> None:
    # 3-character deltas: every mention is split across stream appends
    model = ScriptedModel([HOSTILE], token_chars=3, token_delay=0.005)
    bot = make_bot(model, STREAMING=streaming)
    root = bot.mention("summarise the pasted text")["ts"]
    settle(bot, timeout=20)
    assert_no_broadcast(fake_slack, root)
    if streaming == "on":
        assert fake_slack.calls("chat.startStream") and fake_slack.calls("chat.update")


def test_answers_are_posted_with_unfurling_off(make_bot, fake_slack: FakeSlack) -> None:
    bot = make_bot(ScriptedModel([HOSTILE]), STREAMING="off")
    root = bot.mention("a link please")["ts"]
    settle(bot, timeout=20)
    posts = answer_posts(fake_slack)
    assert posts and all(
        p.get("unfurl_links") is False and p.get("unfurl_media") is False for p in posts
    ), posts
    assert [m.unfurls for m in fake_slack.bot_messages("C1", root)] == [False]


def test_the_fake_refuses_a_non_boolean_unfurl_argument(fake_slack: FakeSlack) -> None:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token="xoxb-test-token", base_url=fake_slack.base_url)
    with pytest.raises(SlackApiError, match="invalid_arguments"):
        client.chat_postMessage(channel="C1", text="x", unfurl_links="sometimes")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<!channel>",
                "<!here>",
                "<!everyone|everyone>",
                "<!group>",
                "<!subteam^S1|@devs>",
                "@here",
                "@channel",
                "@everyone",
                "<",
                "!",
                ">",
                "@",
                "|",
                "x",
                " ",
                "\n",
                "here",
                "channel",
                "`",
                "<!date^1392734382^{date}|Feb 18>",
            ]
        ),
        max_size=30,
    )
)
def test_neutralising_leaves_no_broadcast_and_is_stable(pieces: list[str]) -> None:
    from bot.answer.slack_format import neutralise_mentions

    text = "".join(pieces)
    clean = neutralise_mentions(text)
    assert not BROADCAST.search(clean), clean
    assert neutralise_mentions(clean) == clean  # idempotent: every path may apply it


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<!channel>",
                "<!here|here>",
                "<!subteam^S1|@devs>",
                "@here",
                "<",
                "!",
                ">",
                "@",
                "|",
                "chan",
                "nel",
                "he",
                "re",
                "x ",
                "\n",
            ]
        ),
        max_size=40,
    ),
    st.data(),
)
def test_a_mention_split_across_stream_deltas_never_goes_out_whole(
    pieces: list[str], data: st.DataObject
) -> None:
    """What the stream sends, delta by delta, is what delivery shows: nothing that pings."""
    from bot.answer.slack_format import neutralise_mentions, release_point

    text = "".join(pieces)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=10)))
    deltas = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    sent, held = "", ""
    for delta in deltas:
        held += delta
        cut = release_point(held)
        sent, held = sent + neutralise_mentions(held[:cut]), held[cut:]
    sent += neutralise_mentions(held)
    assert not BROADCAST.search(sent), sent
    assert sent == neutralise_mentions(text)  # the streamed preview matches the final answer
