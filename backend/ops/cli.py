"""Flask commands: `flask --app wsgi wx ...`.

The WeChat emulator is not one of them: it is started on its own, `python -m wxemu`, since
nothing in the backend may import it (tests/test_imports.py).
"""

from __future__ import annotations

import json
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup, ScriptInfo

from backend.api.schemas.common import LANGS
from backend.errors import DATABASE_ERRORS, REDIS_DOWN_ERRORS, ApiError
from backend.ops import logs, metrics
from backend.settings import MINIPROGRAM_STATES
from backend.users.phones import to_e164
from backend.wechat import errors as wx_errors


class OutagesInOneLine(AppGroup):
    """Commands that end in one `Error: ...` line, not a traceback, when the database, Redis or
    WeChat can't be used: the line names the setting to check."""

    def invoke(self, ctx: click.Context):
        if not ctx.ensure_object(ScriptInfo).load_app().testing:  # pytest captures the logs of a test run
            logs.configure_process_logging()  # every line a command or a worker logs is JSON
        try:
            return super().invoke(ctx)
        except DATABASE_ERRORS as exc:
            from backend.errors import describe_database_error

            raise click.ClickException(f"DATABASE_URL: {describe_database_error(exc)}") from None
        except REDIS_DOWN_ERRORS as exc:
            address = ctx.ensure_object(ScriptInfo).load_app().extensions["redis"].address  # made already
            raise click.ClickException(
                f"REDIS_URL: Redis at {address} does not answer ({type(exc).__name__})"
            ) from None
        except wx_errors.WeChatTransportError as exc:
            raise click.ClickException(
                f"WX_API_BASE: WeChat does not answer ({exc.api or 'a call'}): check the network and WX_API_BASE"
            ) from None
        except wx_errors.WeChatAPIError as exc:  # errmsg is redacted; it names what WeChat refused
            raise click.ClickException(f"WeChat refused {exc.api}: errcode {exc.errcode} {exc.errmsg}") from None


wx = OutagesInOneLine("wx", help="Work with WeChat through the backend.")
templates = AppGroup("templates", help="The account's subscribe-message templates.")
wx.add_command(templates)


@templates.command("sync")
@click.option("--app", "appid", metavar="APPID", help="Only this app (default: every app).")
def sync_templates(appid: str | None) -> None:
    """Store every template of each app's account (kind, keywords, enum values) from its WeChat."""
    from backend.templates.catalog import sync_templates as sync

    apps = _chosen_apps(appid)
    for mini_program in apps:
        for template in sync(mini_program):
            keys = ", ".join(f"{kw['key']}" for kw in template.keywords)
            prefix = f"{mini_program.appid}  " if len(current_app.extensions["apps"]) > 1 else ""
            click.echo(f"{prefix}{template.id}  {template.kind:9}  {template.title or ''}  [{keys}]")


def _chosen_apps(appid: str | None) -> list:
    """Every configured app, or the one `--app` names (a usage error for one not configured)."""
    registry = current_app.extensions["apps"]
    if appid is None:
        return list(registry)
    app = registry.get(appid)
    if app is None:
        known = ", ".join(a.appid for a in registry)
        raise click.BadParameter(f"{appid!r} is not a configured app ({known})", param_hint="--app")
    return [app]


def _one_app(appid: str | None):
    """The app `--app` names; without it, the only app (a usage error with several)."""
    registry = current_app.extensions["apps"]
    if appid is None and len(registry) > 1:
        raise click.UsageError("several apps are configured: choose one with --app APPID")
    return _chosen_apps(appid)[0]


@wx.command("apps")
def list_apps() -> None:
    """The apps this backend serves, one line each: appid, its state (`configured` for an app of the
    configuration; a platform's merchant app is `authorized`, `frozen` or `no set 18`), name, push
    configured, the state of its access token, its templates and its credits outstanding."""
    import time

    from backend.ops.stats import per_app_totals

    totals = per_app_totals()
    for mini_program in current_app.extensions["apps"]:
        cached = mini_program.client.tokens.store.read()
        if cached is None:
            token = "no token yet"
        elif cached.expires_at > time.time():
            token = f"token valid {int(cached.expires_at - time.time())} s"
        else:
            token = "token expired"
        push = (
            "push " + ("safe mode" if mini_program.encoding_aes_key else "plaintext")
            if mini_program.push_token
            else "no push"
        )
        templates, credits = totals.get(mini_program.appid, (0, 0))
        counts = f"{templates} templates  {credits} credits outstanding"
        name = f"  {mini_program.name}" if mini_program.name != mini_program.appid else ""
        click.echo(f"{mini_program.appid}  {mini_program.state_word}{name}  {push}  {token}  {counts}")


def _fail(exc: ApiError) -> None:
    """Print the API's error shape on stdout, as a script calling the command expects, and end in
    one `Error: ...` line on stderr with exit status 1, as every command does."""
    body = exc.body()
    click.echo(json.dumps(body, ensure_ascii=False))
    raise click.ClickException(f"{body['error']['code']}: {body['error']['message']}")


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


RECIPIENT_FIELDS = ("openid", "user_id", "external_id", "phone_number")


def _recipient(given: dict, where: str) -> dict:
    """Exactly one of the recipient fields (docs/api.md, Recipients), the phone number in E.164."""
    named = {name: value for name, value in given.items() if value not in (None, "")}
    if len(named) != 1:
        raise click.BadParameter("give exactly one of openid, user_id, external_id or phone_number", param_hint=where)
    if "phone_number" in named:
        named["phone_number"] = to_e164(named["phone_number"])
        if named["phone_number"] is None:
            raise click.BadParameter(f"{given['phone_number']!r} is not a phone number", param_hint=where)
    if "user_id" in named:
        if not str(named["user_id"]).isdigit():
            raise click.BadParameter(f"{given['user_id']!r} is not a user id", param_hint=where)
        named["user_id"] = int(named["user_id"])
    return named


@wx.command("send")
@click.option("--openid", help="The recipient's openid.")
@click.option("--user-id", type=int, help="The recipient's user id.")
@click.option("--external-id", help="The business system's id bound to the recipient.")
@click.option("--phone-number", help="A phone number the recipient shared, e.g. +8613800138000.")
@click.option("--app", "appid", metavar="APPID", help="The app to send from (required with several apps).")
@send_options
def send(
    openid, user_id, external_id, phone_number, appid, template_id, pairs, page, miniprogram_state, lang, truncate
):
    """Send one subscribe message under the ledger's rules and print the outcome as JSON.

    The recipient is exactly one of --openid, --user-id, --external-id or --phone-number.
    """
    from backend.consent import device_subscriptions
    from backend.sending.single import SendRequest, send_message
    from backend.users import recipients

    given = {"openid": openid, "user_id": user_id, "external_id": external_id, "phone_number": phone_number}
    recipient = _recipient(given, "--openid / --user-id / --external-id / --phone-number")
    try:
        mini_program = _one_app(appid)
        request = SendRequest(
            template_id=template_id,
            data=_parse_data(pairs),
            page=page,
            miniprogram_state=miniprogram_state,
            lang=lang,
            truncate=truncate,
            **recipients.as_send_fields(mini_program.appid, recipient),
        )
        # Device templates go to POST /api/v1/device-messages.
        device_subscriptions.refuse_device_templates(mini_program, [template_id])
        result = send_message(mini_program, request)
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
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve this worker's Prometheus metrics on this port (a worker on a machine without gunicorn).",
)
def run_worker(burst: bool, metrics_port: int | None) -> None:
    """Deliver queued messages from Redis (RQ), queue scheduled ones when due, and sweep for lost work.

    Run one or more; webhooks are delivered from here too when WEBHOOK_URL is set. Its sends are
    counted by gunicorn's /metrics when both share PROMETHEUS_MULTIPROC_DIR (one machine), else
    on --metrics-port.
    """
    import threading

    from redis import Redis
    from rq import Queue, SimpleWorker

    from backend import webhooks
    from backend.delivery.queue import QUEUE_NAME, sweep_forever

    app = current_app._get_current_object()
    if not app.config.get("REDIS_URL"):
        raise click.UsageError("REDIS_URL is not set; without Redis the web process delivers batches itself.")
    if metrics_port is not None:
        try:
            metrics.serve(metrics_port)
        except OSError as exc:
            raise click.ClickException(f"--metrics-port {metrics_port}: {exc.strerror}") from None
    threading.Thread(target=sweep_forever, args=(app,), daemon=True, name="sweeper").start()
    webhooks.start_runner(app)  # with WEBHOOK_URL: workers deliver webhooks too
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
    from backend.delivery.outbox import sweep

    click.echo(json.dumps(sweep()))


@wx.command("unknown")
def list_unknown() -> None:
    """Messages WeChat may or may not have delivered (a worker died or WeChat did not answer)."""
    import sqlalchemy as sa

    from backend.extensions import db
    from backend.models import Message
    from backend.states import MessageStatus

    unknown = sa.select(Message).where(Message.status == MessageStatus.UNKNOWN).order_by(Message.id)
    for message in db.session.scalars(unknown):
        click.echo(f"{message.public_id}  user {message.user_id}  {message.template_id}  {message.updated_at:%F %T}")


@wx.command("webhooks")
@click.option("--replay", "replay_id", metavar="ID", help="Make this failing or dead event due now.")
@click.option("--replay-all-failing", is_flag=True, help="Make every failing and dead event due now.")
def webhook_deliveries(replay_id: str | None, replay_all_failing: bool) -> None:
    """Webhook deliveries that are failing or dead, newest first; or replay them.

    A replayed event is posted again by the next runner (a web process or `wx worker`), with the
    same webhook-id, and gets its retries again.
    """
    from backend import webhooks

    if replay_id and replay_all_failing:
        raise click.UsageError("give --replay ID or --replay-all-failing, not both")
    if replay_id or replay_all_failing:
        replayed = webhooks.replay(replay_id)
        if replay_id and not replayed:
            raise click.ClickException(f"no failing or dead webhook event {replay_id}")
        click.echo(f"{replayed} event(s) due again")
        return
    problems = webhooks.problem_deliveries()
    click.echo(f"{problems['failing']} failing, {problems['dead']} dead")
    for event in problems["events"]:
        retry = f"next try {event['next_attempt_at'][:19]}" if event["next_attempt_at"] else "gave up"
        click.echo(
            f"{event['id']}  {event['type']:20}  {event['status']:7}  {event['attempts']} attempts  "
            f"{event['last_error'] or ''}  {retry}"
        )


@wx.command("doctor")
@click.option("--strict", is_flag=True, help="Count warnings (recommendations) as failures too.")
def run_doctor(strict: bool) -> None:
    """Check this deployment from this machine, one line per check.

    Each line is `ok`, `warn` (a recommendation: the deployment works), `FAIL` with what to do,
    or `skip` (it needs a check that failed). Exit status 0 unless a check failed (with
    --strict: or warned). No line carries a secret.
    """
    from backend.ops.doctor import FAIL, WARN, run_checks

    failed = False
    for finding in run_checks(current_app._get_current_object()):
        click.echo(finding.line())
        failed |= finding.status == FAIL or (strict and finding.status == WARN)
    sys.exit(1 if failed else 0)


@wx.command("send-batch")
@click.argument("csv_file", type=click.File(encoding="utf-8-sig"))
@click.option("--app", "appid", metavar="APPID", help="The app to send from (required with several apps).")
@send_options
@click.option("--wait/--no-wait", default=True, help="Follow the batch with a progress bar (default).")
def send_batch(csv_file, appid, template_id, pairs, page, miniprogram_state, lang, truncate, wait) -> None:
    """Send one template to the recipients of CSV_FILE.

    The CSV has a header; an `openid`, `user_id`, `external_id` or `phone_number` column names
    each recipient (one per row), and any other column is that recipient's value for the keyword
    of the same name (e.g. `thing1`).
    """
    import csv
    import time

    from backend.extensions import db
    from backend.sending.batches import BatchRequest, batch_counts, create_batch
    from backend.states import MessageStatus, Outcome

    recipients = []
    reader = csv.DictReader(csv_file)
    for row in reader:
        data = {k: v for k, v in row.items() if k not in RECIPIENT_FIELDS and v != ""}
        named = _recipient({name: row.get(name) for name in RECIPIENT_FIELDS}, f"CSV_FILE line {reader.line_num}")
        recipients.append({**named, "data": data})
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
        batch = create_batch(_one_app(appid), request)
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
            now_settled = batch.total - counts.get(MessageStatus.QUEUED, 0) - counts.get(MessageStatus.SENDING, 0)
            bar.update(now_settled - settled)
            settled = now_settled
    counts = batch_counts(batch.id)
    click.echo(json.dumps({"batch": batch.public_id, "counts": counts}))
    unreached = counts.get(Outcome.WECHAT_UNAVAILABLE, 0) + counts.get(MessageStatus.UNKNOWN, 0)
    if unreached:  # an outage, not the users' choices (consent_required...): the one line and exit 1
        raise click.ClickException(
            f"WX_API_BASE: WeChat did not answer for {unreached} of {batch.total} messages: check the network"
        )


def register_cli(app: Flask) -> None:
    from backend.ops import platform_cli

    wx.add_command(platform_cli.component)
    wx.add_command(platform_cli.keys)
    app.cli.add_command(wx)
    # Flask-Migrate's `flask db …`, the same commands under the same one-line rule.
    migrations = app.cli.commands["db"]
    app.cli.add_command(
        OutagesInOneLine(
            migrations.name,
            commands=migrations.commands,
            callback=migrations.callback,
            params=migrations.params,
            help=migrations.help,
        )
    )
