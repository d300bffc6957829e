"""What kind a template is (one-time, long-term, device): the one rule, asked in one place.

1. As WeChat lists it, when WeChat confirmed the template (the catalog, templates/catalog.py).
2. Else as the user's subscription recorded it: the popup reported the kind, and a send to
   that user spends by it.
3. Else one-time: the kind of every template WeChat lets a mini program ask for by default,
   and the safe assumption (a credit is required and spent).
"""

from __future__ import annotations

import sqlalchemy as sa

from backend.extensions import db
from backend.models import Subscription, Template
from backend.states import TemplateKind

_subscriptions = Subscription.__table__
_RECORDED_KIND = sa.select(_subscriptions.c.kind).where(
    _subscriptions.c.user_id == sa.bindparam("user_id"), _subscriptions.c.template_id == sa.bindparam("template_id")
)


def kind_of(template: Template | None, *, user_id: int | None = None, template_id: str | None = None) -> str:
    """The kind of `template` (the catalog's row, or None when WeChat never confirmed it).

    For an unconfirmed template, pass the recipient's `user_id` and the `template_id` to use the
    kind their subscription recorded; without them (or without a subscription) it is one-time.
    """
    if template is not None:
        return template.kind
    if user_id is not None and template_id is not None:
        recorded = db.session.scalar(_RECORDED_KIND, {"user_id": user_id, "template_id": template_id})
        if recorded is not None:
            return recorded
    return TemplateKind.ONE_TIME
