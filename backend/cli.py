"""Flask commands: `flask --app wsgi emulator`, `flask --app wsgi wx ...`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from backend.emulator.defaults import DEFAULT_PORT

wx = AppGroup("wx", help="Work with WeChat through the backend.")


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
def run_emulator(host: str, port: int) -> None:
    """Serve the local WeChat server-API emulator (dev mode talks to it)."""
    from backend.emulator import serve

    serve(host, port)


def register_cli(app: Flask) -> None:
    app.cli.add_command(run_emulator)
    app.cli.add_command(wx)
