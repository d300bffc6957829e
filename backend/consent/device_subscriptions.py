"""Device subscriptions (docs/wechat.md §11): what `wx.requestSubscribeDeviceMessage` returned.

A device subscription is long-term and belongs to (user, template, model_id, sn): WeChat
remembers the device a user subscribed on and answers 9800006 to a send for another one
(§11c, §11d). The rules:

- `accept` and `acceptWithAudio` make it active (the latter with `audio`, a voice reminder);
  `reject` ends it; `ban` and `filter` record the choice and change no subscription (§11d).
- No push is documented for device subscriptions, so the mini program's report is the only
  source, even when WX_TOKEN is set. With DEVICE_BINDING_REQUIRED it is believed only from a
  user bound to the device whom the backend handed its ticket (consent/device_bindings.py);
  a bound user's forged accept costs one WeChat call: WeChat answers 43101, and that revokes
  the subscription (sending/device_delivery.py).
- Device templates are refused on the ordinary endpoints and the others here (WrongTemplateKind),
  before any send: `wx.requestSubscribeMessage` itself refuses device templates (20013, §11b).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from backend import errors
from backend.apps import MiniProgram
from backend.consent import device_bindings
from backend.consent.ledger import record_events, upsertable_insert
from backend.db import work
from backend.extensions import db
from backend.infra import idempotency
from backend.models import DeviceSubscription, Template, User, utcnow
from backend.states import EventResult, EventSource, SubscriptionStatus, TemplateKind
from backend.templates.catalog import get_template, look_up

DEVICE = TemplateKind.DEVICE
MAX_POPUP_TEMPLATES = 3  # wx.requestSubscribeDeviceMessage's tmplIds (§11b)
_CHANGING = (SubscriptionStatus.ACCEPT, SubscriptionStatus.REJECT)  # the choices that set a subscription's status


def device_templates(mini_program: MiniProgram, template_ids: Iterable[str]) -> dict[str, Template]:
    """These templates, each a device template WeChat confirmed; WrongTemplateKind otherwise."""
    template_ids = list(template_ids)
    found = look_up(mini_program, template_ids)
    for template_id in template_ids:
        template = found.get(template_id)
        if template is None or template.kind != DEVICE:
            raise errors.WrongTemplateKind(
                "{template_id} is not a device template of this mini program.",
                {"template_id": template_id, "kind": template.kind if template else None},
                params={"template_id": template_id},
            )
    return found


def refuse_device_templates(mini_program: MiniProgram, template_ids: Iterable[str]) -> None:
    """WrongTemplateKind when one of these is a device template (for the ordinary endpoints).

    An id WeChat does not know passes: the ordinary rules infer what they need for it.
    """
    for template_id in template_ids:
        template = get_template(mini_program, template_id)  # cached: this is on every send's path
        if template is not None and template.kind == DEVICE:
            raise errors.WrongTemplateKind(
                "{template_id} is a device template: use POST /api/v1/device-messages.",
                {"template_id": template_id, "kind": DEVICE},
                params={"template_id": template_id},
            )


def _row(user: User, template_id: str, model_id: str, sn: str, status: str) -> DeviceSubscription:
    """The (user, template, model_id, sn) row, created with `status` if missing; safe when two
    reports create it at once."""
    now = utcnow()
    db.session.execute(
        upsertable_insert(DeviceSubscription)
        .values(
            app_id=user.app_id,
            user_id=user.id,
            template_id=template_id,
            model_id=model_id,
            sn=sn,
            status=status,
            audio=False,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["user_id", "template_id", "model_id", "sn"])
    )
    return db.session.execute(
        sa.select(DeviceSubscription).where(
            DeviceSubscription.user_id == user.id,
            DeviceSubscription.template_id == template_id,
            DeviceSubscription.model_id == model_id,
            DeviceSubscription.sn == sn,
        )
    ).scalar_one()


def record_report(
    mini_program: MiniProgram,
    user: User,
    results: dict[str, tuple[str, bool]],
    model_id: str,
    sn: str,
    scene: str | None = None,
    key: idempotency.Claim | None = None,
) -> list[DeviceSubscription]:
    """One device popup's results ({template id: (choice, audio)}) for one device, in one transaction."""
    device_templates(mini_program, results)  # before the transaction: the look-up may call gettemplate
    subscriptions = []
    with work():
        device_bindings.check_report(mini_program, user.id, model_id, sn)  # 422 / 403 before anything is written
        for template_id, (choice, audio) in results.items():
            changes = choice in _CHANGING  # ban and filter change no subscription (§11d)
            subscription = _row(user, template_id, model_id, sn, SubscriptionStatus.REJECT if changes else choice)
            if changes:
                subscription.status = choice
                subscription.audio = audio
                subscription.updated_at = utcnow()
            detail = {"model_id": model_id, "sn": sn, "audio": audio}
            record_events(user.app_id, [user.id], template_id, EventSource.CLIENT, choice, scene=scene, detail=detail)
            subscriptions.append(subscription)
        idempotency.record_effect(key, {"device": {"model_id": model_id, "sn": sn}, "templates": list(results)})
    return subscriptions


def revoke(
    app_id: str, user_id: int, template_id: str, model_id: str, sn: str, *, source: str, detail: dict | None = None
) -> None:
    """WeChat answered 43101 for this device: that one subscription ends, no other (in the
    caller's transaction)."""
    db.session.execute(
        sa.update(DeviceSubscription)
        .where(
            DeviceSubscription.user_id == user_id,
            DeviceSubscription.template_id == template_id,
            DeviceSubscription.model_id == model_id,
            DeviceSubscription.sn == sn,
        )
        .values(status=SubscriptionStatus.REJECT, audio=False, updated_at=utcnow())
    )
    detail = {"model_id": model_id, "sn": sn, **(detail or {})}
    record_events(app_id, [user_id], template_id, source, EventResult.REVOKED, detail=detail)


def active_users(
    app_id: str,
    template_id: str,
    model_id: str,
    sn: str,
    user_ids: Iterable[int] | None = None,
    *,
    bound_only: bool = False,
) -> list[int]:
    """The users of `app_id` (of `user_ids`, or all; with `bound_only`, only those bound to the
    device) whose subscription to the template on this device is active, in ascending order."""
    query = sa.select(DeviceSubscription.user_id).where(
        DeviceSubscription.app_id == app_id,
        DeviceSubscription.template_id == template_id,
        DeviceSubscription.model_id == model_id,
        DeviceSubscription.sn == sn,
        DeviceSubscription.status == SubscriptionStatus.ACCEPT,
    )
    if bound_only:
        query = query.where(device_bindings.bound_filter(app_id, model_id, sn, DeviceSubscription.user_id))
    if user_ids is None:
        return sorted(db.session.scalars(query))
    wanted = sorted(set(user_ids))
    found: list[int] = []
    for start in range(0, len(wanted), 500):
        found.extend(db.session.scalars(query.where(DeviceSubscription.user_id.in_(wanted[start : start + 500]))))
    return sorted(found)


def list_subscriptions(user: User) -> list[DeviceSubscription]:
    return list(
        db.session.scalars(
            sa.select(DeviceSubscription)
            .where(DeviceSubscription.user_id == user.id)
            .order_by(DeviceSubscription.template_id, DeviceSubscription.model_id, DeviceSubscription.sn)
        )
    )
