"""Real MCP servers for the tests (tests/support/mcp_server.py): a stdio command a persona
names, or a streamable-HTTP server process on a free port; and what they were called with."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fakes.ports import free_port
from tests.support.wait import wait_until

SERVER = Path(__file__).with_name("mcp_server.py")


def stdio_command() -> list[str]:
    """The `command` of a persona's stdio server."""
    return [sys.executable, str(SERVER), "stdio"]


def calls(path: Path) -> list[dict[str, Any]]:
    """Every tool call the servers writing to `path` (MCP_CALLS) received, in order."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stdio_servers(parents: set[int] | None = None) -> set[int]:
    """The pids of running stdio test MCP servers; with `parents`, only their children
    (other tests' servers may still be exiting)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        ours = str(SERVER).encode() in cmdline and b"stdio" in cmdline
        if ours and (parents is None or parent in parents):
            found.add(int(entry.name))
    return found


class HttpServer:
    """tests/support/mcp_server.py serving streamable HTTP on a free port."""

    def __init__(self, calls_file: Path) -> None:
        self.port = free_port()
        self.calls_file = calls_file
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> HttpServer:
        env = {**os.environ, "MCP_CALLS": str(self.calls_file)}
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), "http", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._listening, 20, f"the MCP server on port {self.port}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def _listening(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
