"""WeChat's user-data push, `authorized_user_information_changes` (docs/wechat.md §13), applied once.

- `user_authorization_revoke`: the user withdrew some data (`RevokeInfo`). With 8 (the phone
  number) the number is deleted at once; the other kinds are recorded only, since nothing else
  of them is held. Each emits `user.data_revoked` with the RevokeInfo values.
- `user_authorization_cancellation`: the WeChat account was closed: the person is erased.
- `user_info_modified`: recorded; nothing held needs it.

The user is `OpenID` (never FromUserName, WeChat's push account). A push for an openid the
backend doesn't know, or without one, is acknowledged and creates nothing. The replay key is
(OpenID, Event, RevokeInfo, CreateTime), kept as a keyed hash so the audit never holds the openid.
"""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from backend import webhooks
from backend.db import end_read, work
from backend.extensions import db
from backend.models import ConsentEvent, User, utcnow
from backend.privacy import erasure
from backend.states import EventResult, EventSource
from backend.users import sessions
from backend.wechat.push import PushEvent

log = logging.getLogger(__name__)

REVOKE = "user_authorization_revoke"
CANCELLATION = "user_authorization_cancellation"
MODIFIED = "user_info_modified"
RESULTS = {
    REVOKE: EventResult.DATA_REVOKED,
    CANCELLATION: EventResult.ACCOUNT_CLOSED,
    MODIFIED: EventResult.INFO_MODIFIED,
}
EVENTS = tuple(RESULTS)
PHONE_NUMBER = 8  # RevokeInfo 8: the phone number (docs/wechat.md §13)
# The columns of a shared phone number, emptied when it is withdrawn (each also in User.PERSONAL_COLUMNS).
PHONE_COLUMNS = tuple(name for name in User.PERSONAL_COLUMNS if "phone" in name or name == "country_code")


def revoke_values(text: str) -> list[int]:
    """RevokeInfo's numbers: one ("8") or, should WeChat list several, each of them ("1,8")."""
    return sorted({int(number) for number in re.findall(r"[0-9]{1,4}", text)})


def replay_key(event: PushEvent) -> str:
    parts = "\n".join((event.user_openid, event.event, event.revoke_info, event.create_time))
    return "userdata:" + erasure.keyed_hash(parts)


def apply(app_id: str, event: PushEvent) -> None:
    """Apply one user-data push for `app_id`, once; never raises for a push WeChat may send."""
    if not event.user_openid or (event.appid and event.appid != app_id):
        return  # WeChat has sent user_info_modified without an OpenID: acknowledged, nothing changes
    user_id = db.session.scalar(
        sa.select(User.id).where(User.app_id == app_id, User.openid == event.user_openid, User.erased_at.is_(None))
    )
    end_read()
    if user_id is None:
        return  # not a user of ours (or erased already): nothing is held, nothing is created
    revoked = revoke_values(event.revoke_info)
    key = replay_key(event)
    with work():
        user = db.session.execute(sa.select(User).where(User.id == user_id).with_for_update()).scalar_one()
        if user.erased_at is not None:
            return
        replayed = ConsentEvent.dedupe_key.in_([key, erasure.erased_key(key)])  # the latter once an erase hashed it
        if db.session.scalar(sa.select(ConsentEvent.id).where(ConsentEvent.app_id == app_id, replayed).limit(1)):
            log.info("user-data push replay ignored", extra={"event": event.event})
            return
        try:
            with db.session.begin_nested():
                db.session.add(
                    ConsentEvent(
                        app_id=app_id,
                        user_id=user_id,
                        source=EventSource.PUSH,
                        result=RESULTS[event.event],
                        credits_delta=0,
                        dedupe_key=key,
                        detail={"event": event.event, "revoke_info": revoked},
                        created_at=utcnow(),
                    )
                )
                db.session.flush()
        except IntegrityError:
            log.info("user-data push replay ignored", extra={"event": event.event})
            return
        if event.event == REVOKE:
            if PHONE_NUMBER in revoked:
                for column in PHONE_COLUMNS:
                    setattr(user, column, None)
            webhooks.emit("user.data_revoked", app_id, {"user_id": user_id, "revoke_info": revoked})
        elif event.event == CANCELLATION:
            erasure.erase_in_unit(user)
    if event.event == CANCELLATION:
        sessions.forget_version(user_id)
