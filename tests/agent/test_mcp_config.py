"""[[persona.mcp]] in PERSONAS_FILE (bot/agent/mcp_config.py): every mistake names the
persona, the server and the fix, and never echoes a value (they hold tokens)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.agent.mcp_config import McpServerConfig
from bot.agent.personas import read_personas
from bot.config import settings as config
from bot.config.settings import ConfigError
from tests.support.harness import base_env

PYTHON = sys.executable.replace("\\", "/")


def load(tmp_path: Path, persona_extra: str, servers: str = "") -> McpServerConfig | None:
    path = tmp_path / "personas.toml"
    path.write_text(
        f'[[persona]]\nid = "ops"\nsystem_prompt = "You help."\n{persona_extra}\n{servers}'
    )
    loaded = config.load(base_env("http://127.0.0.1:1/", PERSONAS_FILE=str(path)))
    [persona] = read_personas(loaded)
    return persona.mcp[0] if persona.mcp else None


def server(body: str, name: str = "tickets") -> str:
    return f'[[persona.mcp]]\nname = "{name}"\n{body}\n'


def test_a_stdio_and_an_http_server_are_read_with_their_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKETS_TOKEN", "tok-123")
    stdio = load(
        tmp_path,
        "",
        server(f'command = ["{PYTHON}", "-m", "x"]\nenv = {{ TOKEN = "${{TICKETS_TOKEN}}" }}'),
    )
    assert stdio is not None and stdio.transport == "stdio" and stdio.env == {"TOKEN": "tok-123"}
    http = load(
        tmp_path,
        "",
        server(
            'url = "https://mcp.example.com/mcp"\n'
            'headers = { Authorization = "Bearer ${TICKETS_TOKEN}" }\n'
            'tools = ["search_*", "create_ticket"]\nprefix = "tk"'
        ),
    )
    assert http is not None and http.transport == "http"
    assert http.headers == {"Authorization": "Bearer tok-123"}
    assert http.allows("search_users") and http.allows("create_ticket")
    assert not http.allows("delete_everything") and not http.allows("create_tickets")


@pytest.mark.parametrize(
    ("persona_extra", "servers", "message"),
    [
        (
            "",
            server('url = "https://x/mcp"\ntimeout = 3'),
            "MCP server 'tickets': unknown key 'timeout'",
        ),
        (
            "",
            server('url = "https://x/mcp"\nheaders = { A = "${NOPE_NOT_SET}" }'),
            "${NOPE_NOT_SET}, which is not set: set NOPE_NOT_SET",
        ),
        ("", server('url = "https://x/mcp"\ncommand = ["x"]'), "set either command"),
        ("", server(""), "set either command"),
        (
            "",
            server('command = ["no-such-mcp-binary-here"]'),
            "'no-such-mcp-binary-here' is not found on PATH",
        ),
        ("", server('url = "ftp://x/mcp"'), "url must be an http(s) URL"),
        ("", server('url = "https://x/mcp"\nenv = { A = "b" }'), "env is for command servers"),
        (
            "",
            server(f'command = ["{PYTHON}"]\nforward_user = true'),
            "headers and forward_user are for url servers",
        ),
        ("", server('url = "https://x/mcp"\ntools = "search_*"'), "tools must be a list"),
        (
            "",
            server('url = "https://x/mcp"') + server('url = "https://y/mcp"'),
            "names must be unique",
        ),
        ("", server('url = "https://x/mcp"', name="Tickets!"), "name must be 1-32"),
        ("aprove = ['*']", "", "(ops): unknown key 'aprove'"),
        ("approve = 'create_*'", "", "(ops): approve must be a list"),
    ],
)
def test_mistakes_name_the_persona_the_server_and_the_fix(
    tmp_path: Path, persona_extra: str, servers: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, persona_extra, servers)
    assert message in str(raised.value)
    assert "persona #1" in str(raised.value)


def test_a_missing_variable_never_shows_the_other_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TICKETS_TOKEN", "tok-secret-value")
    with pytest.raises(ConfigError) as raised:
        load(
            tmp_path,
            "",
            server(
                'url = "https://x/mcp"\nheaders = { A = "${TICKETS_TOKEN}", B = "${MISSING_ONE}" }'
            ),
        )
    assert "MISSING_ONE" in str(raised.value) and "tok-secret-value" not in str(raised.value)
