"""`python -m wxemu [--host H] [--port P]`: serve the emulator in the foreground."""

import argparse

from wxemu.defaults import DEFAULT_PORT
from wxemu.server import serve

parser = argparse.ArgumentParser(description="Serve the WeChat server-API emulator.")
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=DEFAULT_PORT)
parser.add_argument("--apps-file", help="Host the apps of this TOML file too (the backend's WX_APPS_FILE).")
args = parser.parse_args()
serve(args.host, args.port, args.apps_file)
