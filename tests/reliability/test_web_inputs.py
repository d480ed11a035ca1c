"""The settings panel reads values by the settings' own rules; passwords never reach a message; `serve` in local
mode stays on this machine unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.cli.serve import is_loopback
from assistant.web.settings_panel import checked
from memory.errors import StoreError, describe
from memory.redaction import redact
from memory.short_term.connection import open_redis

GOOD = {"share_core": 0.1, "share_short_term": 0.45, "share_long_term": 0.3, "share_documents": 0.15}


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (-0.5, "negative"),
        ("abc", "not a number"),
        ("nan", "not a number"),
        ("inf", "infinite"),
        (3.7, "over 1"),
        (None, "missing"),
        ([1], "a list"),
        ("1e400", "overflows"),
    ],
)
def test_a_share_the_settings_refuse_changes_nothing(value: object, why: str) -> None:
    _, _, problems = checked(GOOD | {"share_long_term": value})
    assert len(problems) == 1, why
    assert "Budget share: long-term memory" in problems[0] and "from 0 to 1" in problems[0]
    assert "ValueError" not in problems[0] and "validation error" not in problems[0]


def test_good_shares_and_switches_pass() -> None:
    shares, switches, problems = checked(GOOD | {"share_core": "0.2", "memory": False, "thread_memory": "true"})
    assert problems == []
    assert shares["core"] == 0.2 and switches == {"memory": False, "thread_memory": True}
    assert checked({"memory": "maybe"})[2] == ["“maybe” is not on or off."]
    assert checked(dict.fromkeys(GOOD, 0))[2] == ["The budget shares cannot all be zero."]


@pytest.mark.parametrize(
    "url",
    [
        "redis://:s3cret-pw@db.example:6379/0",
        "redis://default:s3cret-pw@db.example",
        "rediss://u:s3cret-pw@h:1?x=1",
        "postgresql://ann:s3cret-pw@h/db",
        "redis://:s3cret-pw@with@at@h/0",
        "host=h password=s3cret-pw dbname=d",
        "host=h password='s3cret-pw' dbname=d",
        "redis://h:6379/0?password=s3cret-pw&db=1",
    ],
)
def test_no_password_survives_redaction(url: str) -> None:
    shown = redact(f"cannot reach {url}: refused")
    assert "s3cret" not in shown and "pw@" not in shown
    assert shown.startswith("cannot reach ") and shown.endswith(": refused")
    assert "s3cret" not in describe(StoreError(f"at {url}")) and "s3cret" not in describe(ValueError(url))


async def test_an_unreachable_redis_with_a_password_is_named_without_it() -> None:
    with pytest.raises(StoreError) as caught:
        await open_redis("redis://:s3cret-pw@127.0.0.1:1/0")
    assert "s3cret" not in describe(caught.value)
    assert "redis://:***@127.0.0.1:1/0" in describe(caught.value)


def test_status_hides_the_redis_password(tmp_path: Path) -> None:
    env = dict(os.environ, ASSISTANT_REDIS_URL="redis://:s3cret-pw@127.0.0.1:1/0", ASSISTANT_DATA_DIR=str(tmp_path))
    env["ASSISTANT_DATABASE_URL"] = "postgresql://ann:s3cret-pw@127.0.0.1:1/db"
    for args in (["status"], ["status", "--json"], ["services", "status"], ["chat", "hello"]):
        done = subprocess.run(
            [sys.executable, "-m", "assistant.cli.main", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert "s3cret" not in done.stdout + done.stderr, args
        assert "Traceback" not in done.stderr, args


def test_serve_keeps_local_mode_on_this_machine(tmp_path: Path) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.20") and not is_loopback("no-such-host.invalid")
    env = dict(os.environ, ASSISTANT_AUTH="local", ASSISTANT_DATA_DIR=str(tmp_path))
    refused = subprocess.run(
        [sys.executable, "-m", "assistant.cli.main", "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "--allow-remote-without-login" in refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr


def test_shares_stored_before_the_checks_are_not_used() -> None:
    from assistant.web.session import Preferences

    prefs = Preferences.of({"shares": {"core": -2.0, "short_term": 0.5, "long_term": float("nan"), "documents": "x"}})
    assert prefs.shares == {"short_term": 0.5}
    assert Preferences.of({"shares": "junk"}).shares == {}
