"""Finding 9: secrets must not reach the logs, whatever line carries them.

Generated secrets (Slack bot, user, refresh and app tokens, bearer tokens such as Anthropic
keys, KEY=value pairs whose name says secret/token/password/key, OAuth `code`/`state` and
`client_secret` in URLs) are embedded in generated lines (plain text, JSON, exception
tracebacks, URLs) and logged through the real handler in both LOG_FORMATs.
"""

from __future__ import annotations

import io
import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.obs import logs

TOKEN_BODY = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-", min_size=12, max_size=40
).filter(lambda s: not s.startswith("-"))
VALUE = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+=", min_size=12, max_size=40
)
# Words around the secret, from letters no secret is made of: a filler of twelve "a"s would
# otherwise contain a secret of twelve "a"s, and the check below would blame the redaction.
FILLER = st.text("àéîõüçñ ,:;()!?", max_size=30)
NAMES = st.sampled_from(
    [
        "AWS_SECRET_ACCESS_KEY",
        "SLACK_SIGNING_SECRET",
        "GITHUB_TOKEN",
        "DB_PASSWORD",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "client_secret",
        "refresh_token",
        "api-key",
        "password",
        "METRICS_TOKEN",
        "SLACK_CLIENT_SECRET",
        "x-api-key",
        "private_key",
        "db.passwd",
        "aws_session_token",
        "SLACK_BOT_TOKEN",
    ]
)


@st.composite
def secrets(draw: st.DrawFn) -> tuple[str, str, str]:
    """(kind, the secret part that must not appear, the text that carries it)."""
    kind = draw(st.sampled_from(["slack", "bearer", "pair", "url"]))
    if kind == "slack":
        prefix = draw(
            st.sampled_from(
                [
                    "xoxb-",
                    "xoxp-",
                    "xoxa-",
                    "xoxr-",
                    "xoxs-",
                    "xoxe-",
                    "xoxe.xoxp-",
                    "xoxe.xoxb-",
                    "xapp-",
                ]
            )
        )
        body = draw(TOKEN_BODY)
        return kind, body, prefix + body
    if kind == "bearer":
        value = draw(st.one_of(VALUE, TOKEN_BODY.map(lambda b: "sk-ant-api03-" + b)))
        header = draw(
            st.sampled_from(
                [
                    "Authorization: Bearer ",
                    "authorization: bearer ",
                    "Bearer ",
                    "'Authorization': 'Bearer ",
                ]
            )
        )
        return kind, value, header + value
    if kind == "pair":
        name, value = draw(NAMES), draw(VALUE)
        sep = draw(st.sampled_from(["=", ": ", " = ", '="', "='", '": "', "':'"]))
        return kind, value, f"{name}{sep}{value}"
    param = draw(
        st.sampled_from(
            ["code", "state", "client_secret", "access_token", "refresh_token", "token"]
        )
    )
    value = draw(VALUE.map(lambda v: v.replace("&", "")))
    return kind, value, f"https://example.com/slack/oauth_redirect?{param}={value}&x=1"


def _log(fmt: str, shape: str, before: str, carrier: str, after: str) -> str:
    stream = io.StringIO()
    logger = logging.getLogger(f"test.security.redaction.{fmt}")
    logger.handlers[:] = [logs.handler(fmt, stream)]
    logger.propagate, logger.level = False, logging.DEBUG
    if shape == "plain":
        logger.warning("%s %s %s", before, carrier, after)
    elif shape == "json":
        logger.info("payload %s", json.dumps({"note": before, "value": carrier, "n": 1}))
    elif shape == "url":
        logger.info("GET %s failed: %s", carrier, after)
    else:  # a traceback whose exception message carries it
        try:
            raise RuntimeError(f"{before} {carrier} {after}")
        except RuntimeError:
            logger.exception("turn failed")
    return stream.getvalue()


@settings(max_examples=300, deadline=None)
@given(
    secret=secrets(),
    before=FILLER,
    after=FILLER,
    shape=st.sampled_from(["plain", "json", "url", "traceback"]),
    fmt=st.sampled_from(["text", "json"]),
)
def test_no_generated_secret_reaches_a_log_line(
    secret: tuple[str, str, str], before: str, after: str, shape: str, fmt: str
) -> None:
    kind, value, carrier = secret
    out = _log(fmt, shape, before, carrier, after)
    escaped = json.dumps(value)[1:-1]
    assert value not in out and escaped not in out, (kind, carrier, out)
    if fmt == "json":
        assert all(json.loads(line) for line in out.splitlines())  # still valid JSON lines


def test_the_named_findings_are_redacted() -> None:
    """The review's examples, one by one, in both formats."""
    examples = {
        "xoxe-1-My0xLTEtABCDEF": "refresh xoxe-1-My0xLTEtABCDEF",
        "sk-ant-api03-abcdefghijklmnop": "Authorization: Bearer sk-ant-api03-abcdefghijklmnop",
        "wJalrXUtnFEMI/K7MDENG": "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG",
        "4470.5b6e7f": "GET https://bot.example.com/slack/oauth_redirect?code=4470.5b6e7f&state=s",
    }
    for fmt in ("text", "json"):
        for secret, line in examples.items():
            out = _log(fmt, "plain", "", line, "")
            assert secret not in out, out


def test_ordinary_lines_keep_their_meaning() -> None:
    """Token counts and ids are not secrets: they stay readable."""
    out = _log(
        "text", "plain", "", "input_tokens=1234 output_tokens=56 persona=default", "exit code 1"
    )
    assert "input_tokens=1234" in out and "output_tokens=56" in out and "exit code 1" in out
