"""Every log record of the test run, and the personal data the emulator handed out, to look for each other.

`start_collecting` (tests/conftest.py, at start-up) wraps `logging.Logger.handle`, the one call
every record that passes its logger's level goes through, whatever handlers a test or the app
installed (the app's loggers don't propagate to the root). Each record is kept as the backend's
JSON formatter writes it, so what the formatter hides counts as hidden. The emulator fixture adds
the openids, phone numbers and session keys it handed out; tests/test_logs_personal_data.py
looks for each of them in each line, after every other test.
"""

from __future__ import annotations

import logging
import threading

from backend.ops.logs import JsonFormatter

lines: list[tuple[str, str]] = []  # (logger name, the line as written)
openids: set[str] = set()
phones: set[str] = set()
session_keys: set[str] = set()

# Loggers of the test rig, not of the backend: the emulator (WeChat's side of the wire) and
# werkzeug's development server, whose access lines (test servers only) show query strings.
NOT_THE_BACKEND = ("wxemu", "werkzeug", "urllib3")
_lock = threading.Lock()
_formatter = JsonFormatter()
_original_handle = logging.Logger.handle


def _collecting_handle(self: logging.Logger, record: logging.LogRecord) -> None:
    if not record.name.startswith(NOT_THE_BACKEND):
        try:
            line = _formatter.format(record)
        except Exception:  # a record the formatter can't write is written as its message
            line = record.getMessage()
        with _lock:
            lines.append((record.name, line))
    _original_handle(self, record)


def start_collecting() -> None:
    logging.Logger.handle = _collecting_handle


def findings(
    logged: list[tuple[str, str]], known_openids, known_phones, known_session_keys
) -> list[tuple[str, str, str]]:
    """(what, value, line) for each known value found in a line. Openids too short to tell from
    their own cut form (made-up ids of a few characters) are not looked for."""
    wanted = [("whole openid", value) for value in known_openids if len(value) >= 16]
    wanted += [("phone number", value) for value in known_phones if len(value) >= 7]
    wanted += [("session key", value) for value in known_session_keys if value]
    found = []
    for _, line in logged:
        for what, value in wanted:
            if value in line:
                found.append((what, value, line))
    return found
