"""Sessions end with their account; other origins get nothing (HTTP against the real app, and a browser)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import jwt
import psycopg
import pytest
from playwright.sync_api import Browser, Page, expect

from assistant.web.secret import auth_secret
from tests.browser.conftest import AppServer, screenshot
from tests.browser.test_web import _open, _send

pytestmark = pytest.mark.browser
EVIL = "http://evil.example"


def _cli(server: AppServer, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli.main", *args],
        input=stdin,
        env=server.env,
        check=True,
        capture_output=True,
    )


def _users(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM users ORDER BY name").fetchall()]


def _login(server: AppServer, name: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=30)
    answer = client.post("/login", data={"username": name, "password": password})
    assert answer.status_code == 200, answer.text
    assert client.cookies.get("access_token")
    return client


THREADS = {"pagination": {"first": 20}, "filter": {}}


def test_removing_a_user_ends_their_sessions(
    make_app_server: Callable[..., AppServer], database_url: str, browser: Browser
) -> None:
    server = make_app_server(ASSISTANT_AUTH="password", ASSISTANT_EMBEDDER="hash")
    _cli(server, "users", "add", "ann", "--password-stdin", stdin=b"correct horse battery\n")
    client = _login(server, "ann", "correct horse battery")
    _cli(server, "chat", "--user", "ann", "my locker code is 4711")
    assert client.get("/user").json()["identifier"] == "ann"
    listed = client.post("/project/threads", json=THREADS)
    assert listed.status_code == 200 and len(listed.json()["data"]) == 1
    thread_id = listed.json()["data"][0]["id"]
    old_token = client.cookies["access_token"]

    _cli(server, "users", "rm", "ann", "--yes")

    # The old cookie reaches nothing, and no request brings the account back (without a password).
    assert client.get("/user").status_code == 401
    assert client.post("/project/threads", json=THREADS).status_code == 401
    assert client.get(f"/project/thread/{thread_id}").status_code == 401
    again = httpx.post(f"{server.url}/auth/jwt", headers={"Authorization": f"Bearer {old_token}"}, timeout=30)
    if reissued := again.cookies.get("access_token"):
        assert httpx.get(f"{server.url}/user", cookies={"access_token": reissued}, timeout=30).status_code == 401
    assert _users(database_url) == []

    # A browser holding the old cookie is shown the login page (the socket refuses it too).
    context = browser.new_context()
    host = server.url.split("//")[1].split(":")[0]
    context.add_cookies([{"name": "access_token", "value": old_token, "domain": host, "path": "/"}])
    page = context.new_page()
    page.goto(server.url)
    try:
        expect(page.locator("#email")).to_be_visible()
    finally:
        screenshot(page, "security-01-removed-user-gets-login")
        context.close()
    assert _users(database_url) == []

    # The same name added again is a new account: the old token does not reach it either.
    _cli(server, "users", "add", "ann", "--password-stdin", stdin=b"another long password\n")
    assert client.get("/user").status_code == 401
    fresh = _login(server, "ann", "another long password")
    assert fresh.get("/user").json()["identifier"] == "ann"
    assert fresh.post("/project/threads", json=THREADS).json()["data"] == []


def test_other_origins_get_no_token_and_no_socket(app_server: AppServer, database_url: str) -> None:
    url = app_server.url
    own = httpx.post(f"{url}/auth/header", headers={"Origin": url}, timeout=30)
    assert own.status_code == 200 and own.cookies.get("access_token")
    # Not a browser (no Origin): the local user, as before.
    assert httpx.post(f"{url}/auth/header", timeout=30).status_code == 200

    foreign = httpx.post(f"{url}/auth/header", headers={"Origin": EVIL}, timeout=30)
    assert foreign.status_code == 403
    assert "access_token" not in foreign.headers.get("set-cookie", "")
    assert "ASSISTANT_ALLOWED_ORIGINS" in foreign.json()["detail"]
    preflight = httpx.options(
        f"{url}/auth/header",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
        timeout=30,
    )
    assert "access-control-allow-origin" not in preflight.headers

    token = own.cookies["access_token"]
    with_cookie = {"Cookie": f"access_token={token}"}
    assert httpx.get(f"{url}/user", headers=with_cookie, timeout=30).status_code == 200
    stolen = httpx.get(f"{url}/user", headers=with_cookie | {"Origin": EVIL}, timeout=30)
    assert stolen.status_code == 403
    socket = f"{url}/ws/socket.io/?EIO=4&transport=polling"
    assert httpx.get(socket, headers=with_cookie, timeout=30).status_code == 200
    assert httpx.get(socket, headers=with_cookie | {"Origin": EVIL}, timeout=30).status_code == 403

    # DNS rebinding: a page whose name points at 127.0.0.1 is the page's own origin, but not this app's.
    port = url.rsplit(":", 1)[1]
    rebound = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
    assert httpx.post(f"{url}/auth/header", headers=rebound, timeout=30).status_code == 403

    # A token signed for another user (say, from password mode) is not the local user's.
    secret = auth_secret(Path(app_server.env["ASSISTANT_DATA_DIR"]))
    forged = jwt.encode({"identifier": "ann", "metadata": {}, "display_name": None}, secret, algorithm="HS256")
    assert httpx.get(f"{url}/user", headers={"Cookie": f"access_token={forged}"}, timeout=30).status_code == 401
    assert "ann" not in _users(database_url)


def test_allowed_origins_are_configurable(make_app_server: Callable[..., AppServer]) -> None:
    server = make_app_server(ASSISTANT_ALLOWED_ORIGINS='["https://chat.example.org"]')
    allowed = httpx.post(f"{server.url}/auth/header", headers={"Origin": "https://chat.example.org"}, timeout=30)
    assert allowed.status_code == 200
    assert allowed.headers.get("access-control-allow-origin") == "https://chat.example.org"
    assert httpx.post(f"{server.url}/auth/header", headers={"Origin": EVIL}, timeout=30).status_code == 403


def test_a_rate_limited_message_is_kept_and_the_chat_says_when_to_retry(
    page: Page, make_app_server: Callable[..., AppServer], database_url: str
) -> None:
    server = make_app_server(ASSISTANT_RATE_TURNS_PER_DAY="1", ASSISTANT_EMBEDDER="hash")
    _open(page, server.url)
    _send(page, "first question")
    expect(page.get_by_text("Fake reply to: first question")).to_be_visible()
    _send(page, "second question")
    try:
        expect(page.get_by_text("you have sent 1 message today", exact=False)).to_be_visible()
        expect(page.get_by_text("your message is saved", exact=False)).to_be_visible()
        expect(page.get_by_role("button", name="Retry")).to_be_visible()
    finally:
        screenshot(page, "security-02-rate-limited")
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT thread_id, role, content FROM messages ORDER BY created_at").fetchall()
    assert len({r[0] for r in rows}) == 1
    assert [tuple(r[1:]) for r in rows] == [
        ("user", "first question"),
        ("assistant", "Fake reply to: first question"),
        ("user", "second question"),
    ]
