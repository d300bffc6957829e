"""The emulator's Flask app: WeChat-facing routes plus the /_emulator control API."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from wxemu import component_api, control, device_api, newtmpl_api, wechat_api
from wxemu.dispatch import EXTENSION_KEY, current_state, log_unknown_path
from wxemu.errors import rid
from wxemu.state import EmulatorState


def create_emulator_app(state: EmulatorState | None = None) -> Flask:
    """A WeChat server-API emulator over `state` (a fresh one when None)."""
    app = Flask(__name__)
    app.json.ensure_ascii = False  # WeChat sends UTF-8, not \u escapes
    app.json.sort_keys = False
    app.extensions[EXTENSION_KEY] = state if state is not None else EmulatorState()
    app.register_blueprint(wechat_api.bp)
    app.register_blueprint(newtmpl_api.bp)
    app.register_blueprint(control.bp)
    app.register_blueprint(device_api.bp)
    app.register_blueprint(device_api.control_bp)
    app.register_blueprint(component_api.bp)
    app.register_blueprint(component_api.control_bp)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _http_error(error: HTTPException) -> tuple[Response, int]:
    """Unknown paths (404) and wrong methods on control routes, answered in JSON."""
    status = error.code or 500
    if request.path.startswith("/_emulator"):
        return jsonify(error=f"{error.name}: {request.path}"), status
    body = {"errcode": status, "errmsg": f"{error.name.lower()}: {request.path} rid: {rid()}"}
    response = jsonify(body)
    log_unknown_path(current_state(), response, status)
    return response, status
