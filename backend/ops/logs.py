"""One JSON object a line on stderr, with the request id, and never a secret: one format per process.

Never personal data either (docs/operations.md, "Logs"): no phone number, no session key, no
whole openid. A log line that needs to say which user names them by `user_id`, or by the openid
cut to its first 6 and last 4 characters (`cut_openid`). As a safety net the formatter cuts any
field named `openid` and hides fields named like a phone number or a session key, whatever a
caller passed; tests/test_logs_personal_data.py reads every line the test suite logs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, Response, g, has_request_context, request

from backend.wechat.errors import redact

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
OPENID_SHOWN = (6, 4)  # characters kept at the start and at the end of an openid in a log line
_OPENID_FIELDS = frozenset({"openid", "unionid"})
_HIDDEN_FIELDS = frozenset({"phone_number", "pure_phone_number", "phone", "phoneNumber", "session_key"})
CUT = "…"


def cut_openid(openid: str | None) -> str | None:
    """An openid as a log line may show it: its first 6 and last 4 characters (a short test id: 2)."""
    if openid is None or CUT in openid:
        return openid
    head, tail = OPENID_SHOWN
    if len(openid) <= head + tail + 4:
        return f"{openid[:2]}{CUT}"
    return f"{openid[:head]}{CUT}{openid[-tail:]}"


def _shown(name: str, value):
    if name in _OPENID_FIELDS and isinstance(value, str):
        return cut_openid(value)
    if name in _HIDDEN_FIELDS and value is not None:
        return "***"
    return value


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if has_request_context() and "request_id" in g:
            entry["request_id"] = g.request_id
        entry.update({k: _shown(k, v) for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever sys.stderr is when a line is written (a test may swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def configure_process_logging() -> None:
    """Every logger of this process in the one JSON format: the root logger's handler, so that
    what libraries log (RQ's worker and job lines at INFO, others' warnings) is JSON like the
    backend's own, and RQ adds no plain handler of its own. For `flask wx ...` and `wx worker`
    (a web process logs through gunicorn's handlers); once per process."""
    root = logging.getLogger()
    if any(isinstance(handler, _Stderr) for handler in root.handlers):
        return
    handler = _Stderr()
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)  # libraries' chatter (alembic's INFO lines) stays out
    for name in ("rq.worker", "rq.job"):  # plain handlers an earlier RQ call may have added
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("rq").setLevel(logging.INFO)  # a worker's start, its jobs and its stop


def configure_logging(app: Flask) -> None:
    """JSON logs for the app's loggers; a request line per request with its id and duration."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("backend", "backend.wechat", "backend.requests"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    access = logging.getLogger("backend.requests")

    @app.before_request
    def assign_request_id() -> None:
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        g.started = time.monotonic()

    @app.after_request
    def log_request(response: Response) -> Response:
        request_id = g.get("request_id") or uuid.uuid4().hex
        response.headers["X-Request-Id"] = request_id
        duration_ms = round((time.monotonic() - g.get("started", time.monotonic())) * 1000, 1)
        access.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        return response
