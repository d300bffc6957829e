"""The user's standing settings, as `wx.getSetting({withSubscriptions: true})` reports them.

`mainSwitch: false`: the user switched every subscribe message of the mini program off; WeChat
refuses the popup (20004) and the sends, so a send is refused here first (409
`main_switch_off`, no WeChat call) and a held send keeps waiting. `itemSettings` names the
templates whose "always keep this choice" box is ticked (docs/wechat.md §5): the popup is no
longer shown and answers at once, **but each one-time message still needs a tap**: a standing
`accept` never adds a credit here, and nothing in this module touches the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import sqlalchemy as sa

from backend.consent import ledger
from backend.db import work
from backend.extensions import db
from backend.infra.app_flags import AppFlag
from backend.models import StandingSetting, User, utcnow

# What wx.getSetting may say of a template (docs/wechat.md §5).
ITEM_SETTINGS = ("accept", "reject", "ban", "acceptWithAudio", "acceptWithAlert")

_users = User.__table__
_settings = StandingSetting.__table__
_SWITCHED_OFF = sa.select(_users.c.main_switch).where(_users.c.id == sa.bindparam("user_id"))


def _anyone_switched_off(app_id: str) -> bool:
    return bool(
        db.session.scalar(sa.select(sa.exists().where(_users.c.app_id == app_id, _users.c.main_switch.is_(False))))
    )


_switched_off_in = AppFlag(_anyone_switched_off)


def record(app_id: str, user_id: int, main_switch: bool | None, item_settings: Mapping[str, str]) -> datetime:
    """Store what wx.getSetting returned for this user, in one unit of work; the time seen.

    The templates listed replace the ones stored (a box unticked in the settings page is no
    longer listed). No credit moves: "always keep" only hides the popup.
    """
    now = utcnow()
    with work():
        db.session.execute(
            sa.update(_users).where(_users.c.id == user_id).values(main_switch=main_switch, settings_seen_at=now)
        )
        db.session.execute(
            sa.delete(_settings).where(
                _settings.c.user_id == user_id, _settings.c.template_id.not_in(list(item_settings))
            )
        )
        if item_settings:
            rows = [
                {"app_id": app_id, "user_id": user_id, "template_id": template_id, "setting": setting, "seen_at": now}
                for template_id, setting in item_settings.items()
            ]
            upsert = ledger.upsertable_insert(_settings).values(rows)
            db.session.execute(
                upsert.on_conflict_do_update(
                    index_elements=["user_id", "template_id"],
                    set_={"setting": upsert.excluded.setting, "seen_at": upsert.excluded.seen_at},
                )
            )
    if main_switch is False:
        _switched_off_in.set(app_id)
    return now


def switched_off(app_id: str, user_id: int) -> bool:
    """Whether this user's last reported mainSwitch was false. Asked outside any unit of work;
    costs nothing while no user of the app switched off (infra/app_flags.py)."""
    if not _switched_off_in.get(app_id):
        return False
    off = db.session.scalar(_SWITCHED_OFF, {"user_id": user_id}) is False
    db.session.rollback()  # a read: ended here, before the send's unit of work
    return off


def anyone_switched_off(app_ids: list[str]) -> bool:
    """Whether any user of these apps reported the main switch off (cached per app; outside a unit of work)."""
    return any(_switched_off_in.get(app_id) for app_id in app_ids)


def switched_off_among(user_ids: list[int]) -> set[int]:
    """Those of these users whose last reported main switch is off (a read, in the caller's transaction)."""
    if not user_ids:
        return set()
    return set(
        db.session.scalars(sa.select(_users.c.id).where(_users.c.id.in_(user_ids), _users.c.main_switch.is_(False)))
    )


def settings_of(user_id: int) -> tuple[bool | None, dict[str, str]]:
    """(main switch, {template: "always" setting}) as last reported (None: never reported)."""
    main_switch = db.session.scalar(_SWITCHED_OFF, {"user_id": user_id})
    rows = db.session.execute(
        sa.select(_settings.c.template_id, _settings.c.setting).where(_settings.c.user_id == user_id)
    ).all()
    return main_switch, dict(rows)
