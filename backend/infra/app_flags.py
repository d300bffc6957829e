"""Per-app yes/no answers a process may reuse for a moment: "is anything held in this app?",
"has any user of this app switched subscribe messages off?".

The hot paths (a report, a send) ask them for every request, and the answer is almost always
no: asking the database each time would add a round trip to each request for nothing. A
process keeps each app's answer for `ttl` seconds; the process that makes the answer yes says
so at once (`set`). Another process may see a yes up to `ttl` late: callers whose rule can't
wait for that have a safety net (consent/held.py, `release_credited`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from backend.db import end_read


class AppFlag:
    def __init__(self, probe: Callable[[str], bool], ttl: float = 1.0) -> None:
        self._probe = probe  # one read; asked outside any unit of work (the read is ended)
        self._ttl = ttl
        self._seen: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def get(self, app_id: str) -> bool:
        seen = self._seen.get(app_id)
        now = time.monotonic()
        if seen is not None and now - seen[1] < self._ttl:
            return seen[0]
        value = bool(self._probe(app_id))
        end_read()
        with self._lock:
            self._seen[app_id] = (value, now)
        return value

    def set(self, app_id: str) -> None:
        with self._lock:
            self._seen[app_id] = (True, time.monotonic())

    def forget(self) -> None:
        """Every app's answer asked again (tests that reset the database)."""
        with self._lock:
            self._seen.clear()
