"""Headless Chromium (Debian's /usr/bin/chromium) driven by Playwright against a live server.

Two servers are on offer:

- ``page``: pytest-django's ``live_server``, a threaded WSGI server in this process. Enough for
  pages and forms, but under WSGI Django reads an async streaming response to its end before
  sending anything, so Server-Sent Events never arrive.
- ``asgi_page`` (on ``asgi_server``): the real ``ketaclinic serve`` (uvicorn, ASGI) in a
  subprocess, as in production, on the test's own database. Use it for the live views.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are safe
# because they never overlap with a running page operation.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("KETACLINIC_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/test does)")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        profile = tempfile.mkdtemp(prefix="ketaclinic-chromium-")
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1180, "height": 820},
        )
        yield context
        context.close()
        shutil.rmtree(profile, ignore_errors=True)


def watch_csp(page):
    """Collect the Content-Security-Policy violations the browser reports on this page (an inline
    script or handler the policy blocked): each is a behaviour that silently stopped working."""
    page.csp_violations = []  # type: ignore[attr-defined]

    def seen(message):
        if "Content Security Policy" in message.text:
            page.csp_violations.append(message.text)

    page.on("console", seen)
    return page


@pytest.fixture
def page(browser, live_server):
    page = watch_csp(browser.new_page())
    page.set_default_timeout(10_000)
    page.base_url = live_server.url  # type: ignore[attr-defined]
    yield page
    violations = list(page.csp_violations)
    page.close()
    browser.clear_cookies()
    assert not violations, "blocked by the Content-Security-Policy: " + " | ".join(violations)


def sign_in(page, username, password):
    page.goto(page.base_url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()


# --- the real ASGI server --------------------------------------------------------------------

# The server process: `ketaclinic serve` under a clock the test can move forward. time-machine
# starts it at the real time plus the offset so far, ticking; SIGUSR1 shifts it by the seconds
# written in the control file, then writes "<file>.done". Only wall-clock time moves (datetime,
# time.time); asyncio's monotonic clock, and so every timeout and heartbeat, is untouched.
SERVER = r"""
import datetime as dt, signal, sys
import time_machine
control, offset = sys.argv[1], float(sys.argv[2])
clock = time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset), tick=True).start()
def shift(signum, frame):
    with open(control) as f:
        seconds = float(f.read())
    clock.shift(seconds)
    with open(control + ".done", "w") as f:
        f.write(str(seconds))
signal.signal(signal.SIGUSR1, shift)
from ketaclinic.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AsgiServer:
    """``ketaclinic serve`` (uvicorn) in a subprocess on the test database; see ``asgi_server``."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.control = workdir / "clock"
        self.log = workdir / "server.log"
        self.offset_s = 0.0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", SERVER, str(self.control), str(self.offset_s), "serve"]
                + ["--port", str(self.port), "--no-worker"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"the ASGI server did not start:\n{self.tail()}")
                time.sleep(0.1)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server; ``kill`` sends SIGKILL (a crash) instead of a graceful SIGTERM."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def restart(self, *, kill: bool = True) -> None:
        """A new server process on the same port and database; the clock keeps its offset."""
        self.stop(kill=kill)
        self.start()

    def advance_clock(self, seconds: float) -> None:
        """Move the server's wall clock forward, as if that much time had passed (no sleeping)."""
        assert self.process is not None, "the server is not running"
        done = Path(str(self.control) + ".done")
        done.unlink(missing_ok=True)
        self.control.write_text(str(seconds))
        self.process.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while not done.exists():
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not move its clock:\n{self.tail()}")
            time.sleep(0.02)
        self.offset_s += seconds

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _server_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    # Exactly the production settings: none of pytest's, nor this module's async-unsafe switch.
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE") and not k.startswith("PYTEST_")
    }
    env["KETACLINIC_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2]), env.get("PYTHONPATH", "")])
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@pytest.fixture
def asgi_server(transactional_db, tmp_path):
    """The real ASGI server (``ketaclinic serve``, uvicorn) in a subprocess, sharing the test's database.

    Why a subprocess: Server-Sent Events need ASGI (``live_server`` is WSGI, which buffers an async
    stream to its end), and a separate process runs the app exactly as in production: its own
    settings (no ``DJANGO_ALLOW_ASYNC_UNSAFE``, no pytest overrides), its own event loop, and
    live events woken in the server process itself. It also makes a restart or a crash easy
    (``restart()``, ``stop(kill=True)``).

    The database: the test is transactional, so everything it commits is visible to the server
    and the other way round. On PostgreSQL the server connects to the test database by name. On
    SQLite the test database lives in memory, which another process cannot open, so this copies
    it (schema and whatever fixtures created so far) into a file with SQLite's backup API and
    points this thread's default connection at that file until the test ends; the in-memory
    database is then put back and flushed as usual.

    No task worker (``--no-worker``): its periodic checks run on their own schedule and clock and
    would raise alerts these tests do not expect; tests/infusions covers them.

    The clock: ``advance_clock(seconds)`` moves the server's wall clock forward (time-machine in the
    server process), so a test can pass a minimum observation time without sleeping.

    Passwords: the test settings hash with MD5 for speed, which the server (Argon2/PBKDF2) does
    not accept; ``server_password(user, password)`` stores an Argon2 hash so the user can sign in by typing.
    """
    from django.db import connections

    conn = connections["default"]
    data_dir = tmp_path / "server-data"
    data_dir.mkdir()
    swapped = None
    if conn.vendor == "sqlite":
        db_file = str(data_dir / "ketaclinic.sqlite3")  # where the server's settings look for it
        conn.ensure_connection()
        target = sqlite3.connect(db_file)
        conn.connection.backup(target)
        target.close()
        swapped = conn.__class__({**conn.settings_dict, "NAME": db_file}, "default")
        connections["default"] = swapped
        database_url = None
    else:
        s = conn.settings_dict
        auth = quote(s["USER"], safe="") + (f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else "")
        database_url = f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    server = AsgiServer(_server_env(data_dir, database_url), tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if swapped is not None:
            swapped.close()
            connections["default"] = conn


def server_password(user, password):
    """Store ``password`` for ``user`` as an Argon2 hash, which the server process accepts.

    Light parameters keep it fast here; the server upgrades the hash to its own on sign-in.
    """
    from django.contrib.auth.hashers import Argon2PasswordHasher

    class LightArgon2(Argon2PasswordHasher):
        time_cost, memory_cost, parallelism = 1, 64, 1

    hasher = LightArgon2()
    user.password = hasher.encode(password, hasher.salt())
    user.save(update_fields=["password"])


@pytest.fixture
def asgi_page(browser, asgi_server):
    """A Playwright page on ``asgi_server``; ``another_page(asgi_page)`` opens a second one."""
    page = _new_page(browser, asgi_server.url)
    yield page
    opened = [p for p in browser.pages if getattr(p, "base_url", None) == asgi_server.url]
    violations = [text for p in opened for text in getattr(p, "csp_violations", [])]
    for other in opened:
        other.close()
    browser.clear_cookies()
    assert not violations, "blocked by the Content-Security-Policy: " + " | ".join(violations)


def _new_page(browser, url):
    page = watch_csp(browser.new_page())
    page.set_default_timeout(10_000)
    page.base_url = url  # type: ignore[attr-defined]
    return page


def another_page(page):
    """A second page in the same browser (same cookies, so the same signed-in user)."""
    return _new_page(page.context, page.base_url)
