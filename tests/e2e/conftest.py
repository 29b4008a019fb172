"""A real Streamlit server on a free local port and a real headless Chromium."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "tests" / "e2e" / "screenshots"
SERVER_LOG = SCREENSHOTS / "server.log"
SERVER_PID = [0]
# `streamlit run …`, plus every thread's stack written to the log on SIGUSR1, for a failure report.
SERVE_WITH_STACK_DUMPS = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR1, all_threads=True); "
                          "from streamlit.web.cli import main; sys.argv[0] = 'streamlit'; main()")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with serving(tmp_path_factory, SERVER_LOG, {}, [sys.executable, "-c", SERVE_WITH_STACK_DUMPS]) as (process, url):
        SERVER_PID[0] = process.pid
        yield url


@contextlib.contextmanager
def serving(tmp_path_factory, log_path: Path, env_extra: dict, command: list[str] | None = None):
    """A server with copies of the shipped models in a folder the tests may write to, its output
    in `log_path`; stopped on exit. Yields (process, url)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    models_dir = tmp_path_factory.mktemp("trained_models")
    for name in ("ann", "cnn"):
        for suffix in (".keras", ".json"):
            (models_dir / f"{name}{suffix}").write_bytes((ROOT / "trained_models" / f"{name}{suffix}").read_bytes())
    shutil.copytree(ROOT / "trained_models" / "maps", models_dir / "maps")  # the learned space's
    experiments_dir = models_dir / "experiments"  # the shipped results, and room for a quick run's
    shutil.copytree(ROOT / "trained_models" / "experiments", experiments_dir)
    env = dict(os.environ, MNIST_MODELS_DIR=str(models_dir), MNIST_EXPERIMENTS_DIR=str(experiments_dir), **env_extra)
    # The server's output goes to a file, never to an unread pipe: once a pipe's 64 KB buffer is
    # full, every thread that logs blocks for good.
    with log_path.open("wb") as log:
        process, url = launch_server(env, log, command)
        try:
            yield process, url
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def launch_server(env: dict, output, command: list[str] | None = None,
                  script: Path = ROOT / "streamlit_app.py") -> tuple[subprocess.Popen, str]:
    """`streamlit run streamlit_app.py` on a free local port, once it answers /_stcore/health."""
    port = free_port()
    process = subprocess.Popen(
        (command or [sys.executable, "-m", "streamlit"])
        + ["run", str(script), "--server.port", str(port), "--server.address", "127.0.0.1",
           "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    pytest.fail("Streamlit did not answer /_stcore/health within 90 s:\n" + server_log_tail())


def server_log_tail(chars: int = 4000, stacks: bool = False) -> str:
    """The end of the test server's output, for a failure message; with `stacks`, after the
    server has written every thread's stack into it."""
    if stacks and SERVER_PID[0]:
        os.kill(SERVER_PID[0], signal.SIGUSR1)
        time.sleep(1)
    return SERVER_LOG.read_bytes()[-chars:].decode(errors="replace") if SERVER_LOG.exists() else ""


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not at {CHROMIUM}: `make test` installs it (apt-get install -y chromium).")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.problems = []  # the browser's console errors and uncaught exceptions, for failure reports
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text[:500]}"))
    page.on("pageerror", lambda e: page.problems.append(f"page error: {str(e)[:500]}"))
    yield page
    context.close()


def wait_until_idle(page, timeout=120_000):
    """Streamlit has finished running the script (and drawn what it produced)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)


def screenshot(page, name: str, height: int = 2000) -> Path:
    """The page as a person sees it on a laptop (`name.png`) and all of it in one tall view
    (`name-full.png`): Streamlit scrolls inside its own container, so full_page alone is not enough."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": height})
    page.wait_for_timeout(600)
    page.screenshot(path=str(SCREENSHOTS / f"{name}-full.png"))
    page.set_viewport_size(size)
    return path


def assert_no_exception(page):
    exceptions = page.locator("[data-testid='stException']")
    assert exceptions.count() == 0, exceptions.first.inner_text()[:2000]


TALK_KEY = "e2e-presenter-key"
TALK_SERVER_LOG = SCREENSHOTS / "talk-server.log"


@pytest.fixture(scope="session")
def talk_server(tmp_path_factory):
    """A second server, in talk mode (MNIST_TALK_KEY) with an empty room database of its own.
    Yields (url, key, database path)."""
    database = tmp_path_factory.mktemp("crowd") / "crowd.sqlite3"
    with serving(tmp_path_factory, TALK_SERVER_LOG, {"MNIST_TALK_KEY": TALK_KEY, "MNIST_CROWD_DB": str(database)}) as (_, url):
        yield url, TALK_KEY, database


@pytest.fixture
def phone(browser):
    """A phone held in one hand: 390×844 CSS px, touch, mobile."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1,
                                  has_touch=True, is_mobile=True)
    page = context.new_page()
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text[:500]}"))
    page.on("pageerror", lambda e: page.problems.append(f"page error: {str(e)[:500]}"))
    yield page
    context.close()
