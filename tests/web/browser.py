"""Driving the web app in a real Chromium (Debian's package, launched by Playwright; no browser is ever
downloaded) and watching it as a reviewer would: any console error, uncaught exception, failed
request, error answer or message key shown untranslated fails the test."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import service_missing

CATALOGUES = Path(__file__).resolve().parents[2] / "backend" / "web" / "static" / "i18n"
PASSWORD = "直播剪辑-2026!"


def chromium_path() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        service_missing("Chromium (Debian's `chromium` package: apt-get install -y chromium)")
    return str(found)


def catalogue_keys() -> set[str]:
    keys: set[str] = set()
    for path in CATALOGUES.glob("*.json"):
        keys |= set(json.loads(path.read_text(encoding="utf-8")))
    return keys


@dataclass
class Watcher:
    """Collects what a reviewer would call a fault while a page is used. `expect(...)` names the error
    answers and cut requests a test causes on purpose (each allowed once)."""

    problems: list[str] = field(default_factory=list)
    expected: list[tuple[str, str, int | str]] = field(default_factory=list)
    expected_console: list[str] = field(default_factory=list)
    tolerated: list[tuple[str, str, int]] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" and not self._expected_console(m.text) else None)
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def expect(self, method: str, url_pattern: str, status: int | str) -> None:
        """An answer with `status` (or "cut": a request that fails) the test causes on purpose, once."""
        self.expected.append((method, url_pattern, status))
        if status == "cut":  # Chromium also logs the failed load on the console
            self.expected_console.append("Failed to load resource: net::")

    def tolerate(self, method: str, url_pattern: str, status: int) -> None:
        """An answer that may come any number of times (a protocol's own retry signal, e.g. tus's 423)."""
        self.tolerated.append((method, url_pattern, status))

    def _take(self, method: str, url: str, status: int | str) -> bool:
        if any(m == method and re.search(p, url) and s == status for m, p, s in self.tolerated):
            return True
        for i, (m, pattern, s) in enumerate(self.expected):
            if m == method and re.search(pattern, url) and s == status:
                del self.expected[i]
                return True
        return False

    def _expected_console(self, text: str) -> bool:
        # Chromium logs every 4xx answer as "Failed to load resource"; those are judged by _response.
        if text.startswith("Failed to load resource: the server responded with a status of"):
            return True
        for i, prefix in enumerate(self.expected_console):
            if text.startswith(prefix):
                del self.expected_console[i]
                return True
        return False

    def _failed(self, request: Any) -> None:
        failure = request.failure or ""
        # A media element's range request cancelled by leaving the screen is the browser's own doing.
        if request.resource_type == "media" and "ERR_ABORTED" in failure:
            return
        if not self._take(request.method, request.url, "cut"):
            self.problems.append(f"request failed: {request.method} {request.url} {failure}")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and not self._take(response.request.method, response.url, response.status):
            self.problems.append(f"error answer: {response.request.method} {response.url} {response.status}")

    def check_translated(self, page: Any) -> None:
        text = page.inner_text("body")
        shown = [key for key in catalogue_keys() if re.search(rf"(?<![\w.]){re.escape(key)}(?![\w.])", text)]
        assert shown == [], f"message keys shown untranslated: {shown}"
        leaked = re.findall(r"(?<!\w)(null|undefined|NaN|\[object Object\])(?!\w)", text)
        assert leaked == [], f"a missing value shown as text: {leaked}"

    def assert_clean(self) -> None:
        assert self.problems == [], "\n".join(self.problems)


def wait_until(page: Any, expression: str, timeout_s: float = 20.0) -> None:
    """Poll a JavaScript expression until it is true. (Playwright's wait_for_function evaluates its predicate
    as a string, which the page's Content-Security-Policy forbids: no unsafe-eval, and the tests keep it.)"""
    import time

    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s} s: {expression}")
        page.wait_for_timeout(100)
