"""A real headless Chromium for tests, driven over the Chrome DevTools Protocol (CDP).

    with Chromium.launch() as browser:               # ~1 s; SKIP the test when find() is None
        page = browser.page
        page.goto("http://127.0.0.1:8000/")
        page.fill('[data-testid="chat-input"]', "hello")
        page.click('[data-testid="chat-send"]')     # a real mouse click at the element's centre
        page.wait_for("document.querySelectorAll('.msg').length > 1", timeout=10, what="a reply")

No browser download and no driver: Debian's `chromium` package (or any Chrome on PATH, or
$REA_CHROMIUM) started with `--remote-debugging-port=0`, and the page's CDP websocket opened
with `websocket-client`. Clicks and typing go through `Input.*` (so a hidden or covered button
is not clicked); reads are `Runtime.evaluate`. Uncaught page errors and `console.error` calls
are collected in `page.errors`. The browser runs in its own process group and is stopped by
signalling exactly that group.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import websocket

BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
START_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 30.0


def find() -> str | None:
    """The Chromium binary to use: $REA_CHROMIUM, else the first of BINARIES on PATH."""
    if os.environ.get("REA_CHROMIUM"):
        return os.environ["REA_CHROMIUM"]
    return next((p for p in map(shutil.which, BINARIES) if p), None)


class CDPError(RuntimeError):
    """A CDP call failed, or the page threw while evaluating an expression."""


class Page:
    """One tab: CDP commands over its websocket, with the events seen so far."""

    def __init__(self, ws_url: str):
        self._ws = websocket.create_connection(
            ws_url, timeout=CALL_TIMEOUT_S, suppress_origin=True, enable_multithread=False
        )
        self._ids = itertools.count(1)
        self.errors: list[str] = []
        self.console: list[str] = []
        for domain in ("Page", "Runtime"):
            self.call(f"{domain}.enable")

    # --- protocol -------------------------------------------------------------------------
    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events read meanwhile are recorded."""
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        deadline = time.monotonic() + CALL_TIMEOUT_S
        while time.monotonic() < deadline:
            msg = json.loads(self._ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise CDPError(f"{method}: {msg['error'].get('message')}")
                return msg.get("result", {})
            self._record(msg)
        raise CDPError(f"{method}: no answer within {CALL_TIMEOUT_S:.0f} s")

    def _record(self, msg: dict[str, Any]) -> None:
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exc = details.get("exception", {})
            self.errors.append(exc.get("description") or details.get("text", "exception"))
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.console.append(f"{params.get('type')}: {text}")
            if params.get("type") == "error":
                self.errors.append(f"console.error: {text}")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._ws.close()

    # --- reading --------------------------------------------------------------------------
    def eval(self, expression: str) -> Any:
        """Evaluate JS in the page (promises awaited) and return its JSON value."""
        res = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in res:
            details = res["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"{expression[:80]!r} threw: {text}")
        return res.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout: float, what: str, every: float = 0.25) -> Any:
        """Poll `expression` until it is truthy and return its value; on timeout fail with
        `what`, the last value and the page's errors."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.eval(expression)
            if value:
                return value
            time.sleep(every)
        raise AssertionError(
            f"timed out after {timeout:.0f} s waiting for {what} (last value {value!r}); "
            f"page errors: {self.errors[-5:]}"
        )

    def text(self, selector: str) -> str:
        return self.eval(f"document.querySelector({json.dumps(selector)})?.textContent ?? ''")

    def count(self, selector: str) -> int:
        return self.eval(f"document.querySelectorAll({json.dumps(selector)}).length")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    # --- acting ---------------------------------------------------------------------------
    def goto(self, url: str, *, timeout: float = 15.0) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for(
            f"location.href.startsWith({json.dumps(url)}) && document.readyState === 'complete'",
            timeout=timeout,
            what=f"{url} to load",
        )

    def click(self, selector: str, *, tries: int = 3) -> None:
        """A real left click at the centre of the (scrolled-into-view) element; tried again
        when the page moved it between aiming and clicking (the element saw no click)."""
        for _ in range(tries):
            token = next(self._ids)
            x, y = self._centre(selector, token)
            for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
                extra = {"button": "left", "clickCount": 1} if kind != "mouseMoved" else {}
                self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)
            if self.eval(f"window.__reaClicked === {token}"):
                return
            time.sleep(0.2)
        raise CDPError(f"{selector} did not receive the click ({tries} tries)")

    def fill(self, selector: str, text: str) -> None:
        """Focus a text field, clear it and type `text` (an `input` event per insert)."""
        sel = json.dumps(selector)
        self.eval(
            f"(() => {{ const el = document.querySelector({sel}); el.focus(); el.select(); }})()"
        )
        self.call("Input.dispatchKeyEvent", type="keyDown", key="Delete", code="Delete")
        self.call("Input.dispatchKeyEvent", type="keyUp", key="Delete", code="Delete")
        self.call("Input.insertText", text=text)

    def select(self, selector: str, value: str) -> None:
        """Choose an option of a <select> as a user would (value + `change` event)."""
        sel, val = json.dumps(selector), json.dumps(value)
        ok = self.eval(
            f"(() => {{ const el = document.querySelector({sel});"
            f" if (![...el.options].some(o => o.value === {val})) return false;"
            f" el.value = {val}; el.dispatchEvent(new Event('change', {{bubbles: true}}));"
            " return true; })()"
        )
        if not ok:
            raise CDPError(f"{selector} has no option {value!r}")

    def _centre(self, selector: str, token: int) -> tuple[float, float]:
        """Where to click `selector`; the element records a click as `window.__reaClicked`."""
        sel = json.dumps(selector)
        box = self.eval(
            f"(() => {{ const el = document.querySelector({sel}); if (!el) return null;"
            f" el.addEventListener('click', () => {{ window.__reaClicked = {token}; }},"
            " {once: true, capture: true});"
            " el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
            " const x = r.left + r.width / 2, y = r.top + r.height / 2;"
            " const hit = document.elementFromPoint(x, y);"
            " return {x, y, w: r.width, h: r.height, hit: !!hit && (hit === el || el.contains(hit)),"
            " disabled: !!el.disabled}; })()"
        )
        if box is None:
            raise CDPError(f"no element matches {selector}")
        if not (box["w"] and box["h"]) or not box["hit"] or box["disabled"]:
            raise CDPError(f"{selector} is not clickable (hidden, covered or disabled): {box}")
        return box["x"], box["y"]


class Chromium:
    """A headless Chromium process with one page; use `Chromium.launch()`."""

    def __init__(self, proc: subprocess.Popen, profile: Path, page: Page):
        self.proc = proc
        self.profile = profile
        self.page = page

    @classmethod
    @contextlib.contextmanager
    def launch(
        cls, binary: str | None = None, *, width: int = 1440, height: int = 1000
    ) -> Iterator[Chromium]:
        binary = binary or find()
        if not binary:
            raise FileNotFoundError(
                "no Chromium found: apt-get install chromium, or set REA_CHROMIUM"
            )
        profile = Path(tempfile.mkdtemp(prefix="rea-chromium-"))
        with (profile / "stderr.log").open("wb") as log:
            proc = subprocess.Popen(
                [binary, *_flags(profile, width, height), "about:blank"],
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,  # its own process group: stopped without touching others
            )
        page = None
        try:
            port = _devtools_port(proc, profile)
            page = Page(_page_ws_url(port))
            yield cls(proc, profile, page)
        finally:
            if page:
                page.close()
            _stop(proc)
            shutil.rmtree(profile, ignore_errors=True)


def _flags(profile: Path, width: int, height: int) -> list[str]:
    flags = [
        "--headless=new",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
        "--password-store=basic",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return flags


def _devtools_port(proc: subprocess.Popen, profile: Path) -> int:
    """Chromium writes the port it chose to <profile>/DevToolsActivePort once it listens."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = (profile / "stderr.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"Chromium exited with {proc.returncode}: {log}")
        if marker.exists():
            lines = marker.read_text().split()
            if lines and lines[0].isdigit():
                return int(lines[0])
        time.sleep(0.05)
    raise RuntimeError(f"Chromium did not open its DevTools port within {START_TIMEOUT_S:.0f} s")


def _page_ws_url(port: int) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as resp:
            targets = json.load(resp)
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return pages[0]["webSocketDebuggerUrl"]
        time.sleep(0.1)
    raise RuntimeError("Chromium opened no page")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the browser's process group (renderers and zygote included), SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
