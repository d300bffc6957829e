"""Flask commands: `flask --app wsgi wx ...`.

The WeChat emulator is not one of them: it is started on its own, `python -m wxemu`, since
nothing in the backend may import it (tests/test_imports.py).
"""

from __future__ import annotations

import json
import os
import sys

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import ScriptInfo

from backend import i18n
from backend.api.schemas.common import LANGS
from backend.errors import (
    DATABASE_ERRORS,
    REDIS_DOWN_ERRORS,
    ApiError,
    UserErased,
    UserNotFound,
    database_first_line,
)
from backend.extensions import db
from backend.ops import logs, metrics
from backend.ops.texts import SaidGroup, Text, say, speak_through_click
from backend.settings import MINIPROGRAM_STATES
from backend.users.phones import to_e164
from backend.wechat import errors as wx_errors


class OutagesInOneLine(SaidGroup):
    """Commands that end in one `Error: ...` line, not a traceback, when the database, Redis or
    WeChat can't be used: the line names the setting to check.

    What a command prints for a person goes through `say(...)` (backend/ops/texts.py): Chinese
    under a Chinese locale, from backend/i18n/cli_zh_cn.py; JSON for scripts stays as it is.
    """

    def invoke(self, ctx: click.Context):
        if not ctx.ensure_object(ScriptInfo).load_app().testing:  # pytest captures the logs of a test run
            logs.configure_process_logging()  # every line a command or a worker logs is JSON
        try:
            return super().invoke(ctx)
        except DATABASE_ERRORS as exc:
            error = database_first_line(exc)
            raise click.ClickException(say("DATABASE_URL: cannot use the database: {error}", error=error)) from None
        except REDIS_DOWN_ERRORS as exc:
            address = ctx.ensure_object(ScriptInfo).load_app().extensions["redis"].address  # made already
            raise click.ClickException(
                say(
                    "REDIS_URL: Redis at {address} does not answer ({error})", address=address, error=type(exc).__name__
                )
            ) from None
        except wx_errors.WeChatTransportError as exc:
            raise click.ClickException(
                say(
                    "WX_API_BASE: WeChat does not answer ({api}): check the network and WX_API_BASE",
                    api=exc.api or Text("a call"),
                )
            ) from None
        except wx_errors.WeChatAPIError as exc:  # errmsg is redacted; it names what WeChat refused
            raise click.ClickException(
                say(
                    "WeChat refused {api}: errcode {errcode} {errmsg}",
                    api=exc.api,
                    errcode=exc.errcode,
                    errmsg=exc.errmsg,
                )
            ) from None


wx = OutagesInOneLine("wx", help="Work with WeChat through the backend.")
templates = SaidGroup("templates", help="The account's subscribe-message templates.")
wx.add_command(templates)
keys = SaidGroup(
    "keys",
    help="Keys: business API keys that act for one app (add, list, revoke) and the data keys that seal "
    "personal data at rest (rotate: DATA_KEY, DATA_KEYS_OLD).",
)
wx.add_command(keys)
retention = SaidGroup("retention", help="Purge what the retention in force no longer keeps.")
wx.add_command(retention)


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
        raise click.BadParameter(
            say("{appid!r} is not a configured app ({known})", appid=appid, known=known), param_hint="--app"
        )
    return [app]


def _one_app(appid: str | None):
    """The app `--app` names; without it, the only app (a usage error with several)."""
    registry = current_app.extensions["apps"]
    if appid is None and len(registry) > 1:
        raise click.UsageError(say("several apps are configured: choose one with --app APPID"))
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
            token = say("no token yet")
        elif cached.expires_at > time.time():
            token = say("token valid {seconds} s", seconds=int(cached.expires_at - time.time()))
        else:
            token = say("token expired")
        if not mini_program.push_token:
            push = say("no push")
        else:
            push = say("push safe mode") if mini_program.encoding_aes_key else say("push plaintext")
        templates, credits = totals.get(mini_program.appid, (0, 0))
        counts = say("{templates} templates  {credits} credits outstanding", templates=templates, credits=credits)
        name = f"  {mini_program.name}" if mini_program.name != mini_program.appid else ""
        click.echo(f"{mini_program.appid}  {mini_program.state_word}{name}  {push}  {token}  {counts}")


def _fail(exc: ApiError) -> None:
    """Print the API's error shape on stdout, as a script calling the command expects, and end in
    one `Error: ...` line on stderr with exit status 1, as every command does. The message is in
    the machine's language, as the API's is in the client's; the code stays."""
    body = exc.body(i18n.language_of_environment())
    click.echo(json.dumps(body, ensure_ascii=False))
    raise click.ClickException(f"{body['error']['code']}: {body['error']['message']}")


def _parse_data(pairs: tuple[str, ...]) -> dict[str, str]:
    data = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(say("{pair!r} is not key=value", pair=pair), param_hint="--data")
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
        raise click.BadParameter(
            say("give exactly one of openid, user_id, external_id or phone_number"), param_hint=where
        )
    if "phone_number" in named:
        named["phone_number"] = to_e164(named["phone_number"])
        if named["phone_number"] is None:
            raise click.BadParameter(
                say("{value!r} is not a phone number", value=given["phone_number"]), param_hint=where
            )
    if "user_id" in named:
        if not str(named["user_id"]).isdigit():
            raise click.BadParameter(say("{value!r} is not a user id", value=given["user_id"]), param_hint=where)
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


users = SaidGroup("users", help="One person's data: erase it, export it (docs/api.md, Personal data).")
wx.add_command(users)


def _person(appid: str | None, openid: str | None, external_id: str | None, user_id: int | None):
    """The user the options name, of the app `--app` names (or the only app); erased ones too.

    An openid erased before is found by its tombstone: erasing it again answers as the first time."""
    from backend.models import Erasure, User
    from backend.privacy import erasure

    given = {"openid": openid, "external_id": external_id, "user_id": user_id}
    named = {name: value for name, value in given.items() if value not in (None, "")}
    if len(named) != 1:
        raise click.BadParameter(say("give exactly one of them"), param_hint="--openid / --external-id / --user-id")
    mini_program = _one_app(appid)
    ((kind, value),) = named.items()
    column = {"openid": User.openid, "external_id": User.external_id, "user_id": User.id}[kind]
    query = sa.select(User).where(User.app_id == mini_program.appid, column == value)
    user = db.session.scalar(query)
    if user is None and kind == "openid":
        subject = erasure.subject_hash(mini_program.appid, value)
        tombstone = sa.select(Erasure.user_id).where(
            Erasure.app_id == mini_program.appid, Erasure.subject_hash == subject
        )
        erased_id = db.session.scalar(tombstone.order_by(Erasure.id.desc()).limit(1))
        user = db.session.get(User, erased_id) if erased_id is not None else None
    if user is None:
        _fail(UserNotFound("No user with that {kind}.", params={"kind": kind}))
    return user


def person_options(command):
    options = [
        click.option("--app", "appid", metavar="APPID", help="The user's app (required with several apps)."),
        click.option("--openid", help="The user's openid."),
        click.option("--external-id", help="The business system's id bound to the user."),
        click.option("--user-id", type=int, help="The user's id."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@users.command("erase")
@person_options
@click.option("--reapply", is_flag=True, help="Erase again every person of the erasure log found in this database.")
@click.option(
    "--from",
    "log_file",
    type=click.Path(exists=True, dir_okay=False),
    help="With --reapply: this erasure log (default: ERASURE_LOG).",
)
def erase_user(appid, openid, external_id, user_id, reapply, log_file) -> None:
    """Erase one person (PIPL art. 47) and print {"id", "erased_at"}; erasing again changes nothing.

    After restoring a backup taken before some erasures: `--reapply` erases every person of the
    erasure log again, and prints {"erased": how many}.
    """
    from backend.privacy import erasure

    if reapply:
        if openid or external_id or user_id:
            raise click.UsageError(say("--reapply takes no --openid, --external-id or --user-id"))
        path = log_file or erasure.log_path()
        erased = erasure.reapply(erasure.read_log(path)) if os.path.exists(path) else []
        click.echo(json.dumps({"erased": len(erased)}))
        return
    if log_file:
        raise click.UsageError(say("--from goes with --reapply"))
    user = _person(appid, openid, external_id, user_id)
    click.echo(json.dumps(erasure.erased_answer(erasure.erase(user.id))))


@users.command("export")
@person_options
def export_user(appid, openid, external_id, user_id) -> None:
    """Print everything held about one person as one JSON document (PIPL art. 45)."""
    from backend.privacy import export

    user = _person(appid, openid, external_id, user_id)
    if user.erased_at is not None:
        _fail(UserErased(details={"user_id": user.id}))
    click.echo(json.dumps(export.export(user), ensure_ascii=False, indent=2))


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
        raise click.UsageError(say("REDIS_URL is not set; without Redis the web process delivers batches itself."))
    if metrics_port is not None:
        try:
            metrics.serve(metrics_port)
        except OSError as exc:
            raise click.ClickException(
                say("--metrics-port {port}: {error}", port=metrics_port, error=exc.strerror)
            ) from None
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
        raise click.ClickException(
            say("REDIS_URL: Redis at {address} does not answer ({error})", address=address, error=type(exc).__name__)
        ) from None


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
        user = say("user {id}", id=message.user_id)
        click.echo(f"{message.public_id}  {user}  {message.template_id}  {message.updated_at:%F %T}")


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
        raise click.UsageError(say("give --replay ID or --replay-all-failing, not both"))
    if replay_id or replay_all_failing:
        replayed = webhooks.replay(replay_id)
        if replay_id and not replayed:
            raise click.ClickException(say("no failing or dead webhook event {id}", id=replay_id))
        click.echo(say("{count} event(s) due again", count=replayed))
        return
    problems = webhooks.problem_deliveries()
    click.echo(say("{failing} failing, {dead} dead", failing=problems["failing"], dead=problems["dead"]))
    for event in problems["events"]:
        at = event["next_attempt_at"]
        retry = say("next try {at}", at=at[:19]) if at else say("gave up")
        attempts = say("{count} attempts", count=event["attempts"])
        # The type and the status are values, as the API shows them: they stay for grep.
        click.echo(
            f"{event['id']}  {event['type']:20}  {event['status']:7}  {attempts}  {event['last_error'] or ''}  {retry}"
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
        where = say("CSV_FILE line {line}", line=reader.line_num)
        named = _recipient({name: row.get(name) for name in RECIPIENT_FIELDS}, where)
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
    click.echo(say("batch {id}: {total} recipients", id=batch.public_id, total=batch.total))
    if not wait:
        return
    settled = 0
    with click.progressbar(length=batch.total, label=say("delivering")) as bar:
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
            say(
                "WX_API_BASE: WeChat did not answer for {unreached} of {total} messages: check the network",
                unreached=unreached,
                total=batch.total,
            )
        )


@keys.command("rotate")
def rotate_keys() -> None:
    """Seal every sealed value and write every look-up hash again under the current DATA_KEY.

    In batches of 1,000 rows; a row already under the current key is left alone, so running it
    again (or after an interruption) is safe. Afterwards DATA_KEYS_OLD may be emptied.
    """
    from backend.ops.key_rotation import rotate
    from backend.users.personal import data_keys

    for table, counts in rotate(data_keys()).items():
        click.echo(
            say(
                "{table}: {rows} rows read, {resealed} values sealed again, {rehashed} hashes written again",
                table=table,
                rows=counts.rows,
                resealed=counts.resealed,
                rehashed=counts.rehashed,
            )
        )
    click.echo(
        say("every sealed value and look-up hash is under the current DATA_KEY: DATA_KEYS_OLD may now be emptied")
    )


@retention.command("run")
def run_retention() -> None:
    """Purge now what the retention in force no longer keeps, as the worker does every RETENTION_INTERVAL.

    In batches of at most 1,000 rows, each its own short transaction; prints the rows purged per kind.
    """
    from backend.ops.retention import purge

    for kind, rows in purge().items():
        click.echo(say("{kind}: {rows} rows purged", kind=kind, rows=rows))


def register_cli(app: Flask) -> None:
    from backend.ops import platform_cli

    wx.add_command(platform_cli.component)
    for command in platform_cli.business_keys_commands:  # `wx keys add|list|revoke` beside `wx keys rotate`
        keys.add_command(command)
    speak_through_click()  # its usage errors in the machine's language too
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
