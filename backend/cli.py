"""Flask commands: `flask --app wsgi emulator`, `flask --app wsgi wx ...`."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup

from backend.emulator.defaults import DEFAULT_PORT
from backend.errors import ApiError

wx = AppGroup("wx", help="Work with WeChat through the backend.")
templates = AppGroup("templates", help="The account's subscribe-message templates.")
wx.add_command(templates)


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
def run_emulator(host: str, port: int) -> None:
    """Serve the local WeChat server-API emulator (dev mode talks to it)."""
    from backend.emulator import serve

    serve(host, port)


@templates.command("sync")
def sync_templates() -> None:
    """Store every template of the account (kind, keywords, enum values) from WeChat."""
    from backend.services.templates import sync_templates as sync

    for template in sync():
        keys = ", ".join(f"{kw['key']}" for kw in template.keywords)
        click.echo(f"{template.id}  {template.kind:9}  {template.title or ''}  [{keys}]")


def _parse_data(pairs: tuple[str, ...]) -> dict[str, str]:
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--data")
        data[key] = value
    return data


@wx.command("send")
@click.option("--openid", help="The recipient's openid.")
@click.option("--user-id", type=int, help="The recipient's user id (instead of --openid).")
@click.option("--template", "template_id", required=True, help="The template id (priTmplId).")
@click.option("--data", "pairs", multiple=True, metavar="KEY=VALUE", help="A keyword value; repeat per keyword.")
@click.option("--page", help="The mini-program page the card opens.")
@click.option("--state", "miniprogram_state", type=click.Choice(["developer", "trial", "formal"]))
@click.option("--lang", type=click.Choice(["zh_CN", "en_US", "zh_HK", "zh_TW"]))
@click.option("--truncate", is_flag=True, help="Shorten over-long thing values instead of refusing them.")
def send(openid, user_id, template_id, pairs, page, miniprogram_state, lang, truncate) -> None:
    """Send one subscribe message under the ledger's rules and print the outcome as JSON."""
    from backend.services.sending import SendRequest, send_message

    if (openid is None) == (user_id is None):
        raise click.UsageError("give exactly one of --openid or --user-id")
    request = SendRequest(
        template_id=template_id,
        data=_parse_data(pairs),
        openid=openid,
        user_id=user_id,
        page=page,
        miniprogram_state=miniprogram_state,
        lang=lang,
        truncate=truncate,
    )
    try:
        result = send_message(request)
    except ApiError as exc:
        click.echo(
            json.dumps(
                {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}, ensure_ascii=False
            )
        )
        sys.exit(1)
    click.echo(
        json.dumps(
            {
                "id": result.message.public_id,
                "status": result.message.status,
                "remaining": result.remaining,
                "wechat_msgid": result.message.wechat_msgid,
            }
        )
    )


def register_cli(app: Flask) -> None:
    app.cli.add_command(run_emulator)
    app.cli.add_command(wx)
