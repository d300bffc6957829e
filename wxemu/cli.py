"""`python -m wxemu`: serve the emulator in the foreground (dev mode's WeChat, `make emulator`).

A click command, as the backend's `flask emulator` was before the emulator left the backend: the
same options, defaults and usage errors, so scripts and habits carry over. Click comes with Flask,
which the emulator is built on anyway.
"""

from __future__ import annotations

import click

from wxemu.apps_file import AppsFileError
from wxemu.defaults import DEFAULT_PORT
from wxemu.server import serve

PROG_NAME = "python -m wxemu"


@click.command("wxemu")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--apps-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Host the apps of this TOML file too (the file of the backend's WX_APPS_FILE).",
)
def main(host: str, port: int, apps_file: str | None) -> None:
    """Serve the local WeChat server-API emulator (the backend's dev mode talks to it)."""
    try:
        serve(host, port, apps_file)
    except AppsFileError as exc:
        # A usage error (exit status 2, one line), not a traceback: the file is the caller's to fix.
        raise click.BadParameter(str(exc), param_hint="--apps-file") from None
