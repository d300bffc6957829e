"""Flask commands: `flask --app wsgi emulator`, `flask --app wsgi wx ...`."""

from __future__ import annotations

import json
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from backend.emulator.defaults import DEFAULT_PORT
from backend.errors import DATABASE_ERRORS, REDIS_DOWN_ERRORS, ApiError
from backend.schemas import LANGS
from backend.settings import MINIPROGRAM_STATES


class DatabaseErrorsInOneLine(AppGroup):
    """Commands that end in one line naming DATABASE_URL when the database can't be used, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except DATABASE_ERRORS as exc:
            from backend.startup import describe_database_error

            raise click.ClickException(f"DATABASE_URL: {describe_database_error(exc)}") from None


wx = DatabaseErrorsInOneLine("wx", help="Work with WeChat through the backend.")
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


def _fail(exc: ApiError) -> None:
    """Print the API's error shape and exit non-zero, as a script calling the command expects."""
    click.echo(json.dumps(exc.body(), ensure_ascii=False))
    sys.exit(1)


def _parse_data(pairs: tuple[str, ...]) -> dict[str, str]:
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value", param_hint="--data")
        data[key] = value
    return data


def send_options(command):
    """The options `send` and `send-batch` share, as the API's send body has them."""
    options = [
        click.option("--template", "template_id", required=True, help="The template id (priTmplId)."),
        click.option(
            "--data",
            "pairs",
            multiple=True,
            metavar="KEY=VALUE",
            help="A keyword value; repeat per keyword (send-batch: shared by every recipient).",
        ),
        click.option("--page", help="The mini-program page the card opens."),
        click.option("--state", "miniprogram_state", type=click.Choice(MINIPROGRAM_STATES)),
        click.option("--lang", type=click.Choice(LANGS)),
        click.option("--truncate", is_flag=True, help="Shorten over-long thing values instead of refusing them."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@wx.command("send")
@click.option("--openid", help="The recipient's openid.")
@click.option("--user-id", type=int, help="The recipient's user id (instead of --openid).")
@send_options
def send(openid, user_id, template_id, pairs, page, miniprogram_state, lang, truncate) -> None:
    """Send one subscribe message under the ledger's rules and print the outcome as JSON."""
    from backend.services import device_subscriptions
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
        device_subscriptions.refuse_device_templates([template_id])  # they go to POST /api/v1/device-messages
        result = send_message(request)
    except ApiError as exc:
        _fail(exc)
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


@wx.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def run_worker(burst: bool) -> None:
    """Deliver queued batch messages from Redis (RQ), and sweep for lost work. Run one or more."""
    import threading

    from redis import Redis
    from rq import Queue, SimpleWorker

    from backend.queue import QUEUE_NAME, sweep_forever, use_app

    app = current_app._get_current_object()
    if not app.config.get("REDIS_URL"):
        raise click.UsageError("REDIS_URL is not set; without Redis the web process delivers batches itself.")
    use_app(app)
    threading.Thread(target=sweep_forever, args=(app,), daemon=True, name="sweeper").start()
    # RQ's own connection, without our short time-outs: it waits on the queue (BLPOP), and it
    # rides out an outage by itself, reconnecting with back-off.
    connection = Redis.from_url(app.config["REDIS_URL"])
    try:
        # SimpleWorker runs jobs in this process: the app and its connection pools are made once.
        SimpleWorker([Queue(QUEUE_NAME, connection=connection)], connection=connection).work(burst=burst)
    except REDIS_DOWN_ERRORS as exc:
        address = app.extensions["redis"].address
        raise click.ClickException(f"Redis at {address} does not answer ({type(exc).__name__})") from None


@wx.command("sweep")
def run_sweep() -> None:
    """Once: queue again messages whose job was lost; mark abandoned sends `unknown`."""
    from backend.services.delivery import sweep

    click.echo(json.dumps(sweep()))


@wx.command("unknown")
def list_unknown() -> None:
    """Messages WeChat may or may not have delivered (a worker died or WeChat did not answer)."""
    import sqlalchemy as sa

    from backend.extensions import db
    from backend.models import Message

    for message in db.session.scalars(sa.select(Message).where(Message.status == "unknown").order_by(Message.id)):
        click.echo(f"{message.public_id}  user {message.user_id}  {message.template_id}  {message.updated_at:%F %T}")


@wx.command("doctor")
@click.option("--strict", is_flag=True, help="Count warnings (recommendations) as failures too.")
def run_doctor(strict: bool) -> None:
    """Check this deployment from this machine, one line per check.

    Each line is `ok`, `warn` (a recommendation: the deployment works), `FAIL` with what to do,
    or `skip` (it needs a check that failed). Exit status 0 unless a check failed (with
    --strict: or warned). No line carries a secret.
    """
    from backend.doctor import FAIL, WARN, run_checks

    failed = False
    for finding in run_checks(current_app._get_current_object()):
        click.echo(finding.line())
        failed |= finding.status == FAIL or (strict and finding.status == WARN)
    sys.exit(1 if failed else 0)


@wx.command("send-batch")
@click.argument("csv_file", type=click.File(encoding="utf-8-sig"))
@send_options
@click.option("--wait/--no-wait", default=True, help="Follow the batch with a progress bar (default).")
def send_batch(csv_file, template_id, pairs, page, miniprogram_state, lang, truncate, wait) -> None:
    """Send one template to the recipients of CSV_FILE.

    The CSV has a header; an `openid` or `user_id` column names each recipient, and any other
    column is that recipient's value for the keyword of the same name (e.g. `thing1`).
    """
    import csv
    import time

    from backend.extensions import db
    from backend.services.batches import BatchRequest, batch_counts, create_batch

    recipients = []
    for row in csv.DictReader(csv_file):
        recipient: dict = {"data": {k: v for k, v in row.items() if k not in ("openid", "user_id") and v != ""}}
        if row.get("openid"):
            recipient["openid"] = row["openid"]
        elif row.get("user_id"):
            recipient["user_id"] = int(row["user_id"])
        else:
            raise click.BadParameter("every row needs an openid or a user_id", param_hint="CSV_FILE")
        recipients.append(recipient)
    request = BatchRequest(
        template_id=template_id,
        data=_parse_data(pairs),
        recipients=recipients,
        page=page,
        miniprogram_state=miniprogram_state,
        lang=lang,
        truncate=truncate,
    )
    try:
        batch = create_batch(request)
    except ApiError as exc:
        _fail(exc)
    click.echo(f"batch {batch.public_id}: {batch.total} recipients")
    if not wait:
        return
    settled = 0
    with click.progressbar(length=batch.total, label="delivering") as bar:
        while settled < batch.total:
            time.sleep(0.5)
            counts = batch_counts(batch.id)
            db.session.remove()  # end the read: on SQLite it would hold the lock the workers need
            now_settled = batch.total - counts.get("queued", 0) - counts.get("sending", 0)
            bar.update(now_settled - settled)
            settled = now_settled
    click.echo(json.dumps({"batch": batch.public_id, "counts": batch_counts(batch.id)}))


def register_cli(app: Flask) -> None:
    app.cli.add_command(run_emulator)
    app.cli.add_command(wx)
    # Flask-Migrate's `flask db …`, the same commands under the same one-line rule.
    migrations = app.cli.commands["db"]
    app.cli.add_command(
        DatabaseErrorsInOneLine(
            migrations.name,
            commands=migrations.commands,
            callback=migrations.callback,
            params=migrations.params,
            help=migrations.help,
        )
    )
