"""Serving the emulator over real HTTP: in a background thread (tests) or the foreground (CLI)."""

from __future__ import annotations

import re
import threading

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from wxemu.app import create_emulator_app
from wxemu.apps_file import read_apps_file
from wxemu.defaults import DEFAULT_PORT, DEV_APPID, DEV_SECRET
from wxemu.state import EmulatorState

_SECRET_PARAMS = re.compile(r"((?:access_token|secret|js_code)=)[^&\s]+")


class _RedactingRequestHandler(WSGIRequestHandler):
    """Werkzeug's access log, minus the secret, codes and tokens in query strings."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.path = _SECRET_PARAMS.sub(r"\1***", self.path)  # after the app has read it
        super().log_request(code, size)


class EmulatorServer:
    """A running emulator: `url` to call, `state` to inspect, `shutdown()` to stop."""

    def __init__(self, server: BaseWSGIServer, state: EmulatorState) -> None:
        self._server = server
        self.state = state
        self.url = f"http://{server.host}:{server.server_port}"
        self._thread = threading.Thread(target=server.serve_forever, name="wechat-emulator", daemon=True)

    def start(self) -> EmulatorServer:
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until Ctrl-C."""
        try:
            self._server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._server.server_close()

    def shutdown(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()

    def __enter__(self) -> EmulatorServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def _make(host: str, port: int, state: EmulatorState | None) -> EmulatorServer:
    state = state if state is not None else EmulatorState()
    app = create_emulator_app(state)
    server = make_server(host, port, app, threaded=True, request_handler=_RedactingRequestHandler)
    return EmulatorServer(server, state)


def run_in_thread(host: str = "127.0.0.1", port: int = 0, state: EmulatorState | None = None) -> EmulatorServer:
    """Serve the emulator from a daemon thread; port 0 picks a free port."""
    return _make(host, port, state).start()


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, apps_file: str | None = None) -> None:
    """Serve the emulator in the foreground until Ctrl-C, printing its URL; with `apps_file`, it
    hosts that file's apps too (each with its own users, tokens, templates and push target)."""
    apps = read_apps_file(apps_file) if apps_file else []
    emulator = _make(host, port, EmulatorState(apps=apps))
    print(f"WeChat emulator on {emulator.url}", flush=True)
    print(f"  appid {DEV_APPID}  secret {DEV_SECRET}", flush=True)
    for app in apps:
        print(f"  appid {app['appid']}  (from {apps_file})", flush=True)
    print("  control API under /_emulator (reset, users, login_codes, templates, popup, ...)")
    emulator.serve_forever()
