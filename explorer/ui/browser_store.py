"""What the server keeps for each browser (one participant): their training runs, their quiz score.

Streamlit keeps state per *session*, and a reload or a second tab is a new session: what a page kept
there is gone while a training thread goes on, holding a training slot nobody can see or stop. Kept
here, in the server process, under the browser's id (a cookie: `explorer.ui.browser`), a reload or a
second tab finds the participant's runs and score again.

A browser none of whose sessions has been connected for `FORGET_SECONDS`, and none of whose runs is
training, is forgotten (its private model copies are freed). Several workers behind the proxy keep
a browser on one worker (the proxy's own cookie), so each worker's memory is enough.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

FORGET_SECONDS = 15 * 60.0


@dataclass
class _Browser:
    values: dict[str, Any] = field(default_factory=dict)
    sessions: dict[str, Callable[[], bool] | None] = field(default_factory=dict)  # session id → still connected?
    gone_since: float | None = None  # first time no session was seen connected


def _active(value: Any) -> bool:
    """A value still at work (a run training in its own thread) keeps its browser remembered."""
    return bool(getattr(value, "active", False))


class Browsers:
    """Values per (browser id, key), shared by every session of that browser in this process."""

    def __init__(self, forget_seconds: float = FORGET_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.forget_seconds, self.clock = forget_seconds, clock
        self._lock = threading.RLock()
        self._browsers: dict[str, _Browser] = {}

    def touch(self, browser: str, session: str, connected: Callable[[], bool] | None = None) -> None:
        """A session of `browser` is running a page now; `connected()` (any thread) says later whether that
        session is still connected (None: no way to tell, it counts as connected when touched)."""
        with self._lock:
            b = self._browsers.setdefault(browser, _Browser())
            b.sessions[session] = connected
            b.gone_since = None
        self.sweep()

    def connected(self, browser: str) -> bool:
        """Whether a session of `browser` is connected now (sessions with no check do not count)."""
        with self._lock:
            b = self._browsers.get(browser)
            checks = [c for c in b.sessions.values() if c is not None] if b else []
        return any(c() for c in checks)

    def get(self, browser: str, key: str, default: Any = None) -> Any:
        with self._lock:
            b = self._browsers.get(browser)
            return b.values.get(key, default) if b else default

    def setdefault(self, browser: str, key: str, factory: Callable[[], Any]) -> Any:
        with self._lock:
            values = self._browsers.setdefault(browser, _Browser()).values
            if key not in values:
                values[key] = factory()
            return values[key]

    def put(self, browser: str, key: str, value: Any) -> None:
        """Keep `value` under `key` for `browser` (None forgets the key)."""
        with self._lock:
            values = self._browsers.setdefault(browser, _Browser()).values
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value

    def values(self, browser: str) -> dict[str, Any]:
        with self._lock:
            b = self._browsers.get(browser)
            return dict(b.values) if b else {}

    def __contains__(self, browser: str) -> bool:
        with self._lock:
            return browser in self._browsers

    def sweep(self) -> None:
        """Forget the browsers gone for `forget_seconds` with nothing training (called on every touch)."""
        now = self.clock()
        with self._lock:
            browsers = list(self._browsers.items())
        for name, b in browsers:
            checks = list(b.sessions.items())
            live = {s: c for s, c in checks if c is None or c()}
            with self._lock:
                for s, _ in checks:
                    if s not in live:
                        b.sessions.pop(s, None)  # a closed session
                if any(c is not None for c in live.values()) or any(_active(v) for v in b.values.values()):
                    b.gone_since = None
                elif b.gone_since is None:
                    b.gone_since = now
                elif now - b.gone_since >= self.forget_seconds:
                    self._browsers.pop(name, None)


BROWSERS = Browsers()
