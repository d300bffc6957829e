"""How every WeChat-facing call runs: method check, latency, faults, the handler, the log."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable

from flask import Blueprint, Response, current_app, jsonify, request

from wxemu.errors import WxError
from wxemu.state import EmulatorState, Fault

Handler = Callable[[EmulatorState], dict]

EXTENSION_KEY = "wechat_emulator"
# WeChat refuses a send while another send to the same openid is in flight: 43108,
# "并发下发消息给同一个粉丝" (docs/wechat.md §10). The latency sleep counts as in flight.
ONE_AT_A_TIME_PER_OPENID = frozenset({"subscribe_send"})
# What the call log keeps of a body: never the secret or a token.
_LOGGED_BODY_FIELDS = ("touser", "to_openid_list", "template_id", "model_id", "modelId", "sn", "data")


def current_state() -> EmulatorState:
    """The EmulatorState of the app serving this request."""
    return current_app.extensions[EXTENSION_KEY]


def wechat_route(bp: Blueprint, rule: str, api: str, method: str) -> Callable[[Handler], Handler]:
    """Register `handler` as WeChat API `api` at `rule`, answering only `method` properly.

    The handler runs under the state lock and returns the reply body or raises WxError.
    """

    def decorate(handler: Handler) -> Handler:
        def view() -> Response:
            return _dispatch(api, method, handler)

        bp.add_url_rule(rule, endpoint=api, view_func=view, methods=["GET", "POST"])
        return handler

    return decorate


def json_body() -> dict:
    """The request body as a JSON object, whatever its Content-Type (WeChat ignores it)."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise WxError(44002)  # "empty post data"
    try:
        body = json.loads(raw)
    except ValueError:
        raise WxError(47001) from None  # "data format error"
    if not isinstance(body, dict):
        raise WxError(47001)
    return body


def _dispatch(api: str, method: str, handler: Handler) -> Response:
    state = current_state()
    openid = _touser() if api in ONE_AT_A_TIME_PER_OPENID else None
    with state.lock:
        overlapping = openid is not None and not state.begin_send(openid)
    try:
        if state.latency_ms:
            time.sleep(state.latency_ms / 1000)  # outside the lock: calls overlap like real ones
        with state.lock:
            fault = state.take_fault(api)
            response, errcode = _answer(state, method, handler, fault, overlapping)
            state.log_call(**_log_entry(api, errcode, response))
    finally:
        if openid is not None and not overlapping:
            with state.lock:
                state.end_send(openid)
    if fault and fault.late_ms:
        time.sleep(fault.late_ms / 1000)  # the work is done; the answer comes late
    if fault and fault.drop:
        return _drop_connection(response)
    return response


def _touser() -> str | None:
    """The openid a send is for, read without judging the body (the handler does that)."""
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        return None
    touser = body.get("touser") if isinstance(body, dict) else None
    return touser if isinstance(touser, str) and touser else None


def _answer(
    state: EmulatorState, method: str, handler: Handler, fault: Fault | None, overlapping: bool = False
) -> tuple[Response, int | None]:
    if fault and fault.errcode is not None:
        body = WxError(fault.errcode).body()  # an injected error has no side effect
    elif fault and fault.http_status:
        page = f"<html><body><h1>{fault.http_status}</h1>emulated failure</body></html>"
        return Response(page, status=fault.http_status, mimetype="text/html"), None
    else:
        try:
            if request.method != method:
                raise WxError(43002 if method == "POST" else 43001)
            if overlapping:
                raise WxError(43108)  # nothing is sent: the caller may retry after a moment
            body = handler(state)
        except WxError as error:
            body = error.body()
    return jsonify(body), body.get("errcode", 0)


def _log_entry(api: str | None, errcode: int | None, response: Response) -> dict:
    entry: dict = {"api": api, "method": request.method, "path": request.path, "errcode": errcode}
    if errcode is None:
        entry["http_status"] = response.status_code
    try:
        sent = json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        sent = None
    if isinstance(sent, dict):
        entry.update({k: sent[k] for k in _LOGGED_BODY_FIELDS if k in sent})
    reply = response.get_json(silent=True) if response.is_json else None
    if isinstance(reply, dict) and "msgid" in reply:
        entry["msgid"] = reply["msgid"]
    if isinstance(reply, dict) and "session_key" in reply:
        # What a test needs to look for it where it must not be (the backend's logs, its database).
        entry.update(openid=reply.get("openid"), session_key=reply["session_key"])
    return entry


def log_unknown_path(state: EmulatorState, response: Response, status: int) -> None:
    """Log a call to a path WeChat doesn't have (it helps spot a typo in a client)."""
    with state.lock:
        state.log_call(**_log_entry(None, status, response))


def _drop_connection(response: Response) -> Response:
    """Close the client's connection without an answer (the work is already done).

    Under werkzeug's server the socket is in the environ; shutting it down makes the
    client see a dropped connection and werkzeug's write fail quietly. The Flask test
    client has no socket: there an empty 502 stands in for the dropped answer.
    """
    sock = request.environ.get("werkzeug.socket")
    if sock is None:
        return Response(b"", status=502)
    with contextlib.suppress(OSError):  # the client may be gone already
        sock.shutdown(socket.SHUT_RDWR)
    return response
