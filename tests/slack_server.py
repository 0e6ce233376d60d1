"""A local fake Slack (Web API + incoming webhook + file upload URL) for tests with the real slack-sdk.

Use the `slack_server` fixture (import it into a test module). Every request is recorded;
responses are scripted per method with `slack.script(method, Reply(...), ...)` and fall back to
Slack's success answer. Every posted message is checked against Block Kit limits by an
implementation independent of monitor.slack (`block_kit_problems`); Slack's answer to a message
that breaks them is `invalid_blocks`, as the real API does, and the problems are kept in
`slack.limit_problems` so a test can assert there are none.

`silent_server` is a TCP port that accepts connections and never answers (for timeouts).
"""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

TOKEN = "xoxb-test-token"


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: dict[str, Any] | str | None = None  # None: the default success answer
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    method: str  # "chat.postMessage", "webhook", "upload", …
    body: dict[str, Any]
    headers: dict[str, str]
    status: int = 0  # the status answered
    ok: bool = False


def block_kit_problems(message: dict[str, Any]) -> list[str]:
    """Slack's documented limits, checked here independently of the code under test."""
    problems: list[str] = []

    def units(text: str) -> int:
        return len(text.encode("utf-16-le", "surrogatepass")) // 2

    blocks = message.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    if len(blocks) > 50:
        problems.append(f"{len(blocks)} blocks > 50")
    if units(str(message.get("text") or "")) > 40000:
        problems.append("text > 40000")
    for block in blocks:
        kind = block["type"]
        if kind == "header":
            if block["text"]["type"] != "plain_text" or units(block["text"]["text"]) > 150:
                problems.append(f"header {units(block['text']['text'])} > 150")
        elif kind == "section":
            if "text" in block and units(block["text"]["text"]) > 3000:
                problems.append(f"section text {units(block['text']['text'])} > 3000")
            fields = block.get("fields") or []
            if len(fields) > 10:
                problems.append(f"{len(fields)} fields > 10")
            problems += [f"field {units(f['text'])} > 2000" for f in fields if units(f["text"]) > 2000]
            if "text" not in block and not fields:
                problems.append("empty section")
        elif kind == "context":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 10:
                problems.append(f"{len(elements)} context elements")
            problems += [f"context text {units(e['text'])} > 3000" for e in elements if units(e.get("text", "")) > 3000]
        elif kind == "actions":
            for element in block.get("elements") or []:
                if units(element["text"]["text"]) > 75 or len(element.get("url", "")) > 3000:
                    problems.append("button text > 75 or url > 3000")
        elif kind != "divider":
            problems.append(f"unexpected block type {kind}")
    return problems


class FakeSlack:
    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.calls: list[Call] = []
        self.limit_problems: list[str] = []
        self.channels: dict[str, str] = {  # name → id of the channels that exist
            "llm-readiness": "C0DEFAULT1", "support-ml": "C0SUPPORT1", "claims": "C0CLAIMS01",
        }  # fmt: skip
        self.members: set[str] | None = None  # channel ids the bot is in; None = all
        self._scripts: dict[str, list[Reply]] = {}
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        server.expect_request(re.compile(r"^/.*$")).respond_with_handler(self._handle)

    # -- URLs for the code under test ---------------------------------------------------------

    @property
    def api_url(self) -> str:
        return self.server.url_for("/api/")

    @property
    def webhook_url(self) -> str:
        return self.server.url_for("/services/T000/B000/secret")

    # -- scripting and inspection -------------------------------------------------------------

    def script(self, method: str, *replies: Reply) -> None:
        """Answer the next calls of `method` with `replies`, in order, then succeed again."""
        with self._lock:
            self._scripts.setdefault(method, []).extend(replies)

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def posted(self) -> list[Call]:
        """Messages Slack accepted (chat.postMessage and webhook)."""
        return [c for c in self.calls if c.method in ("chat.postMessage", "webhook") and c.ok]

    # -- the server side ----------------------------------------------------------------------

    def _handle(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/api/"):
            method = path.removeprefix("/api/")
        elif path.startswith("/services/"):
            method = "webhook"
        elif path.startswith("/upload/"):
            method = "upload"
        else:
            return Response("not found", status=404)
        body = _body(request)
        call = Call(method=method, body=body, headers=dict(request.headers))
        with self._lock:
            self.calls.append(call)
            scripted = self._scripts.get(method)
            reply = scripted.pop(0) if scripted else None
        if reply is None or reply.body is None:
            answer = self._default(method, request, body)
            reply = answer if reply is None else Reply(reply.status, answer.body, reply.headers)
        call.status = reply.status
        if isinstance(reply.body, dict):
            call.ok = reply.status == 200 and bool(reply.body.get("ok"))
            body = json.dumps(reply.body)
            return Response(body, status=reply.status, headers=reply.headers, content_type="application/json")
        call.ok = reply.status == 200 and reply.body == "ok"
        return Response(reply.body or "", status=reply.status, headers=reply.headers, content_type="text/plain")

    def _default(self, method: str, request: Request, body: dict[str, Any]) -> Reply:
        if method == "webhook":
            problems = block_kit_problems(body)
            self.limit_problems += problems
            return Reply(400, "invalid_blocks") if problems else Reply(200, "ok")
        if method == "upload":
            return Reply(200, "OK - 123")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        if method == "chat.postMessage":
            problems = block_kit_problems(body)
            self.limit_problems += problems
            if problems:
                return Reply(200, {"ok": False, "error": "invalid_blocks"})
            channel = str(body.get("channel", ""))
            channel_id = self.channels.get(channel.lstrip("#"), channel)
            if not channel_id.startswith("C"):
                return Reply(200, {"ok": False, "error": "channel_not_found"})
            if self.members is not None and channel_id not in self.members:
                return Reply(200, {"ok": False, "error": "not_in_channel"})
            return Reply(200, {"ok": True, "channel": channel_id, "ts": f"1700000000.{next(self._ts):06d}"})
        if method == "conversations.join":
            channel_id = str(body.get("channel"))
            if self.members is not None:
                self.members.add(channel_id)
            return Reply(200, {"ok": True, "channel": {"id": channel_id}})
        if method == "conversations.list":
            channels = [{"id": cid, "name": name} for name, cid in self.channels.items()]
            return Reply(200, {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}})
        if method == "files.getUploadURLExternal":
            return Reply(200, {"ok": True, "file_id": "F0001", "upload_url": self.server.url_for("/upload/F0001")})
        if method == "files.completeUploadExternal":
            return Reply(200, {"ok": True, "files": [{"id": "F0001", "title": "report"}]})
        return Reply(200, {"ok": False, "error": "unknown_method"})


def _body(request: Request) -> dict[str, Any]:
    data = request.get_data()
    if request.mimetype == "application/json":
        return json.loads(data or b"{}")
    if request.mimetype == "application/x-www-form-urlencoded":
        return dict(parse_qsl(data.decode()))
    return {"bytes": len(data)}


def _session_server(config: pytest.Config) -> HTTPServer:
    """One threaded HTTP server per test session (stopping one takes half a second)."""
    server: HTTPServer | None = getattr(config, "_ftready_slack_server", None)
    if server is None:
        server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        server.start()
        config._ftready_slack_server = server  # type: ignore[attr-defined]
        config.add_cleanup(server.stop)
    return server


@pytest.fixture
def slack_server(request: pytest.FixtureRequest) -> Iterator[FakeSlack]:
    """A fresh fake Slack (no calls, default answers) on the session's HTTP server."""
    server = _session_server(request.config)
    server.clear()
    try:
        yield FakeSlack(server)
    finally:
        server.clear()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An http:// URL whose server accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/"
    finally:
        listener.close()
