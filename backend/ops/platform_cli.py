"""`wx component …` (a third-party platform's authorizations and refresh tokens) and `wx keys …`
(business keys that act for one app). Output in the machine's language (LANG), as `wx doctor`'s."""

from __future__ import annotations

import click
from flask import current_app

from backend.component import events
from backend.component import keys as business_keys
from backend.component.merchants import Platform
from backend.ops.texts import SaidGroup, say
from backend.wechat import errors as wx_errors

component = SaidGroup("component", help="The third-party platform: authorizations and refresh tokens.")
# `wx keys add|list|revoke`: registered in cli.py's `wx keys` group, beside `wx keys rotate`.
keys = SaidGroup("keys", help="Business API keys that act for one app.")


def _platform() -> Platform:
    found = current_app.extensions["apps"].platform
    if found is None:
        raise click.UsageError(say("no third-party platform is configured: set WX_COMPONENT_*"))
    return found


def _platform_failure(exc: wx_errors.PlatformError) -> click.ClickException:
    if isinstance(exc, wx_errors.PlatformIPRefused):  # 61004
        return click.ClickException(say("WeChat refused this machine's IP (61004): add it to the platform's whitelist"))
    if isinstance(exc, wx_errors.TicketUnavailable):  # none yet, 61005, 61006
        return click.ClickException(say("no valid component_verify_ticket yet: WeChat pushes one every 10 minutes"))
    return click.ClickException(say("WeChat refused: {error}", error=str(exc)))


@component.command("authorize")
@click.option("--code", required=True, metavar="AUTH_CODE", help="The authorization code of an `authorized` push.")
def authorize(code: str) -> None:
    """Complete an authorization by hand (as the `authorized` push or the redirect does)."""
    platform = _platform()
    try:
        appid = events.complete(platform, code)
    except wx_errors.PlatformError as exc:
        raise _platform_failure(exc) from None
    app = platform.get(appid)
    click.echo(say("{appid} authorized: {state}", appid=appid, state=app.state_word if app else "?"))


@component.command("recover")
def recover() -> None:
    """Rebuild every stored refresh token from `api_get_authorizer_list` (after a restore, or 61023)."""
    platform = _platform()
    try:
        recovered, missing = platform.refresh_tokens.recover_all()
    except wx_errors.PlatformError as exc:
        raise _platform_failure(exc) from None
    for appid in recovered:
        click.echo(say("{appid} refresh token recovered", appid=appid))
    for appid in missing:
        click.echo(say("{appid} not listed by WeChat: it must authorize the platform again", appid=appid))
    platform.forget_states()


@keys.command("add")
@click.option("--app", "appid", required=True, metavar="APPID", help="The app the key acts for.")
def add_key(appid: str) -> None:
    """Print a new key that acts for APPID only; it is stored as a hash and shown this once."""
    if current_app.extensions["apps"].get(appid) is None:
        raise click.BadParameter(say("{appid!r} is not an app of this backend", appid=appid), param_hint="--app")
    key_id, key = business_keys.add_key(appid)
    click.echo(say("{key_id} for {appid}: {key}", key_id=key_id, appid=appid, key=key))
    click.echo(say("keep it now: it is stored only as a hash"))


@keys.command("list")
def list_keys() -> None:
    """Every key made with `wx keys add` (never the key itself)."""
    for key in business_keys.list_keys():
        state = say("revoked {at}", at=key.revoked_at.isoformat()) if key.revoked_at else say("live")
        click.echo(f"{key.id}  {key.app_id}  {key.created_at.isoformat()}  {state}")


@keys.command("revoke")
@click.argument("key_id")
def revoke_key(key_id: str) -> None:
    """Revoke KEY_ID at once."""
    if not business_keys.revoke_key(key_id):
        raise click.ClickException(say("no live key {key_id}", key_id=key_id))
    click.echo(say("{key_id} revoked", key_id=key_id))


business_keys_commands = tuple(keys.commands.values())
