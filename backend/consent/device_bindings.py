"""Devices belong to people: who may follow a device (docs/api.md, Device bindings).

WeChat hands a device's sn_ticket to whoever asks with the mini program's access token, and
the ticket works for any user; it pushes nothing when a device popup is answered, so the
mini program's report is all the backend knows. Without a rule of its own, anyone logged in
could subscribe to anyone's washer or door sensor and read its messages. A device binding is
that rule: business code says which users may follow (model_id, sn), directly or through a
single-use device binding code the person redeems in the mini program (the QR code on the
device). With DEVICE_BINDING_REQUIRED:

- the sn_ticket is handed to bound users only, and each hand-out is recorded on the binding;
- a device report is believed only from a bound user the backend handed the device's ticket
  within the ticket's lifetime (and REPORT_GRACE for the tap): anything else is 403, nothing
  stored; a report for a model_id no binding of the app names is 422;
- a device send without recipients reaches bound users only;
- an unbind revokes that user's device subscriptions for the device.

What it can't do: a bound user who was handed a ticket may still report a popup they never
saw (WeChat would then answer 43101 to the send, which revokes it); and the binding is only
as good as the business code's word, or the secrecy of the device's code.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from backend import errors
from backend.apps import MiniProgram
from backend.consent import sn_tickets
from backend.consent.ledger import record_events, upsertable_insert
from backend.db import work
from backend.extensions import db
from backend.models import DeviceBinding, DeviceBindingCode, DeviceSubscription, User, utcnow
from backend.states import EventResult, EventSource, SubscriptionStatus
from backend.users import binding

# A popup shown with a ticket just before it expired is answered by a person after it: the
# report is believed this long after the ticket's end, no longer.
REPORT_GRACE = timedelta(seconds=120)


def required() -> bool:
    return bool(current_app.config["DEVICE_BINDING_REQUIRED"])


def _device(app_id: str, model_id: str, sn: str):
    return sa.and_(DeviceBinding.app_id == app_id, DeviceBinding.model_id == model_id, DeviceBinding.sn == sn)


def _binding_of(app_id: str, user_id: int, model_id: str, sn: str, *, lock: bool = False) -> DeviceBinding | None:
    query = sa.select(DeviceBinding).where(_device(app_id, model_id, sn), DeviceBinding.user_id == user_id)
    return db.session.scalar(query.with_for_update() if lock else query)


def bind(app_ids: Iterable[str], user_id: int, model_id: str, sn: str) -> DeviceBinding:
    """Bind the user (of one of `app_ids`) to the device of its app; the existing binding when
    there is one (idempotent, also when two binds race)."""
    user = binding.get_user(app_ids, user_id)
    return _bound(user, model_id, sn)


def _bound(user: User, model_id: str, sn: str) -> DeviceBinding:
    found = _binding_of(user.app_id, user.id, model_id, sn)
    if found is not None:
        return found
    try:
        with work():
            row = DeviceBinding(app_id=user.app_id, model_id=model_id, sn=sn, user_id=user.id, created_at=utcnow())
            db.session.add(row)
        return row
    except IntegrityError:  # a concurrent bind made it first (the unique key)
        found = _binding_of(user.app_id, user.id, model_id, sn)
        if found is None:
            raise
        return found


def unbind(app_ids: Iterable[str], user_id: int, model_id: str, sn: str) -> None:
    """Unbind the user from the device and revoke their device subscriptions for it, in one unit
    of work (nothing happens when they were not bound). The binding row is deleted first: a
    report holding it (`check_report`, FOR UPDATE) finishes before, and its subscription is
    then revoked here; a report after finds no binding."""
    user = binding.get_user(app_ids, user_id)
    with work():
        db.session.execute(
            sa.delete(DeviceBinding).where(_device(user.app_id, model_id, sn), DeviceBinding.user_id == user.id)
        )
        revoked = list(
            db.session.scalars(
                sa.update(DeviceSubscription)
                .where(
                    DeviceSubscription.user_id == user.id,
                    DeviceSubscription.model_id == model_id,
                    DeviceSubscription.sn == sn,
                    DeviceSubscription.status == SubscriptionStatus.ACCEPT,
                )
                .values(status=SubscriptionStatus.REJECT, audio=False, updated_at=utcnow())
                .returning(DeviceSubscription.template_id)
            )
        )
        detail = {"model_id": model_id, "sn": sn, "reason": "unbound"}
        for template_id in sorted(revoked):
            record_events(user.app_id, [user.id], template_id, EventSource.BUSINESS, EventResult.REVOKED, detail=detail)


def bound_users(app_ids: Iterable[str], model_id: str, sn: str) -> list[DeviceBinding]:
    """The bindings of the device in each of `app_ids`, oldest first."""
    return list(
        db.session.scalars(
            sa.select(DeviceBinding)
            .where(DeviceBinding.app_id.in_(list(app_ids)), DeviceBinding.model_id == model_id, DeviceBinding.sn == sn)
            .order_by(DeviceBinding.app_id, DeviceBinding.id)
        )
    )


def _check_model_known(app_id: str, model_id: str) -> None:
    """422 for a model_id no device of the app is bound with: no device of that type was ever
    registered here, so no popup for it can be genuine."""
    known = db.session.scalar(
        sa.select(DeviceBinding.id).where(DeviceBinding.app_id == app_id, DeviceBinding.model_id == model_id).limit(1)
    )
    if known is None:
        raise errors.InvalidRequest(
            "No device of this model_id is bound in this mini program.",
            {"model_id": "no device of this model is bound"},
            422,
        )


def _not_bound() -> errors.Forbidden:
    return errors.Forbidden("You are not bound to this device.", {"device": "not bound to this user"})


def check_ticket_allowed(mini_program: MiniProgram, user_id: int, model_id: str, sn: str) -> None:
    """Before an sn_ticket is handed out: 403 for a user not bound to the device (when bindings
    are required), whatever the model_id (the page then offers to link the device); no WeChat
    call."""
    if not required():
        return
    if _binding_of(mini_program.appid, user_id, model_id, sn) is None:
        raise _not_bound()


def ticket_for(mini_program: MiniProgram, user_id: int, model_id: str, sn: str) -> tuple[str, int]:
    """The device's sn_ticket for this user and the seconds it has left (consent/sn_tickets.py),
    when they may have it (`check_ticket_allowed`); the hand-out is recorded for their report."""
    check_ticket_allowed(mini_program, user_id, model_id, sn)
    ticket, expires_in = sn_tickets.sn_ticket(mini_program, model_id, sn)
    _record_ticket(mini_program, user_id, model_id, sn, utcnow() + timedelta(seconds=expires_in))
    return ticket, expires_in


def _record_ticket(mini_program: MiniProgram, user_id: int, model_id: str, sn: str, expires_at: datetime) -> None:
    """Remember that this user was handed the device's ticket until `expires_at` (the later of
    the tickets handed out wins), for `check_report`. Recorded whenever the user is bound."""
    with work():
        db.session.execute(
            sa.update(DeviceBinding)
            .where(
                _device(mini_program.appid, model_id, sn),
                DeviceBinding.user_id == user_id,
                sa.or_(DeviceBinding.ticket_expires_at.is_(None), DeviceBinding.ticket_expires_at < expires_at),
            )
            .values(ticket_expires_at=expires_at)
        )


def check_report(mini_program: MiniProgram, user_id: int, model_id: str, sn: str) -> None:
    """Inside the report's unit of work, before anything is written: when bindings are required,
    422 for an unknown model_id, 403 unless the user is bound and was handed the device's
    ticket that is still valid (with REPORT_GRACE). The binding row is locked until the report
    commits, so an unbind can't slip between this check and the subscription it writes."""
    if not required():
        return
    _check_model_known(mini_program.appid, model_id)
    found = _binding_of(mini_program.appid, user_id, model_id, sn, lock=True)
    if found is None:
        raise _not_bound()
    handed = found.ticket_expires_at
    if handed is not None and handed.tzinfo is None:  # SQLite gives naive datetimes back
        handed = handed.replace(tzinfo=utcnow().tzinfo)
    if handed is None or handed + REPORT_GRACE < utcnow():
        raise errors.Forbidden(
            "No sn_ticket for this device was handed to you recently: get one before the popup.",
            {"device": "no sn_ticket handed to this user within its lifetime"},
        )


def bound_filter(app_id: str, model_id: str, sn: str, user_column) -> sa.ColumnElement[bool]:
    """A condition on `user_column`: the user is bound to the device (for the audience of a send)."""
    return user_column.in_(sa.select(DeviceBinding.user_id).where(_device(app_id, model_id, sn)))


# -- device binding codes --------------------------------------------------------------------


def create_code(app_id: str, model_id: str, sn: str, expires_in: int) -> tuple[str, datetime]:
    """A new single-use code binding the device to whoever redeems it, and when it expires."""
    code, hashed = binding.new_code()
    now = utcnow()
    expires_at = now + timedelta(seconds=expires_in)
    with work():  # each new code prunes the long-expired ones, as account codes do
        db.session.execute(
            sa.delete(DeviceBindingCode).where(DeviceBindingCode.expires_at < now - binding.KEEP_EXPIRED)
        )
        db.session.add(
            DeviceBindingCode(app_id=app_id, code_hash=hashed, model_id=model_id, sn=sn, expires_at=expires_at)
        )
    return code, expires_at


def redeem(user: User, typed: str, client_ip: str) -> DeviceBinding:
    """Bind the code's device to `user` and use the code up: BindingCodeInvalid for a code that
    is unknown, expired, used or of another app; RateLimited past the limits that account
    binding codes have (shared with them: users/binding.py, `counted_guess`)."""
    hashed = binding.hash_of_typed(typed)
    with binding.counted_guess(user.id, client_ip):
        with work():
            device = _use_up(hashed, user) if hashed is not None else None
            if device is None:
                raise errors.BindingCodeInvalid()
            model_id, sn = device
            db.session.execute(
                upsertable_insert(DeviceBinding)
                .values(app_id=user.app_id, model_id=model_id, sn=sn, user_id=user.id, created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["app_id", "model_id", "sn", "user_id"])
            )
        return _bound(user, model_id, sn)


def _use_up(hashed: str, user: User) -> tuple[str, str] | None:
    """Mark the code redeemed by `user`; its (model_id, sn), or None when it is unknown, expired
    or used. One conditional UPDATE: two redemptions of one code can't both see it unused."""
    now = utcnow()
    row = db.session.execute(
        sa.update(DeviceBindingCode)
        .where(
            DeviceBindingCode.code_hash == hashed,
            DeviceBindingCode.app_id == user.app_id,  # a code of another app is no code here
            DeviceBindingCode.redeemed_at.is_(None),
            DeviceBindingCode.expires_at > now,
        )
        .values(redeemed_at=now, redeemed_by=user.id)
        .returning(DeviceBindingCode.model_id, DeviceBindingCode.sn)
    ).first()
    return (row.model_id, row.sn) if row else None
