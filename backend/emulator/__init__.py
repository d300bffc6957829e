"""A local emulator of WeChat's server API for development and tests (see docs/wechat.md).

`create_emulator_app()` builds the Flask app; `run_in_thread()` serves it in the
background (tests); `serve()` serves it in the foreground (`flask --app wsgi emulator`
or `python -m backend.emulator`). The /_emulator control API sets up users, codes,
templates and consent, injects faults and shows the call log.
"""

from backend.emulator.app import create_emulator_app
from backend.emulator.server import EmulatorServer, run_in_thread, serve
from backend.emulator.state import EmulatorState

__all__ = ["EmulatorServer", "EmulatorState", "create_emulator_app", "run_in_thread", "serve"]
