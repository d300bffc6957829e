"""A local emulator of WeChat's server API for development and tests (see docs/wechat.md).

`create_emulator_app()` builds the Flask app; `run_in_thread()` serves it in the
background (tests); `serve()` serves it in the foreground (`python -m wxemu`). The
/_emulator control API sets up users, codes, templates and consent, injects faults and
shows the call log.
"""

from wxemu.app import create_emulator_app
from wxemu.server import EmulatorServer, run_in_thread, serve
from wxemu.state import EmulatorState

__all__ = ["EmulatorServer", "EmulatorState", "create_emulator_app", "run_in_thread", "serve"]
