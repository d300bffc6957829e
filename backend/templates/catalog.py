"""Templates: synced from WeChat's gettemplate, looked up once when an unknown id shows up.

A catalog per app (docs/design.md): each mini program has its own templates at WeChat, so a
template is (app_id, id) in the table, in the process cache and in every function here.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import make_transient_to_detached

from backend.apps import MiniProgram
from backend.consent.ledger import upsertable_insert
from backend.errors import TemplateBanned
from backend.extensions import db
from backend.models import Template, utcnow
from backend.states import TemplateKind
from backend.wechat.errors import WeChatError
from backend.wechat.keyword_rules import keyword_type

log = logging.getLogger(__name__)

# gettemplate's content: "会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n"
_KEYWORD = re.compile(r"(?:^|\n)\s*([^\n{}]*?)\s*[:：]?\s*\{\{\s*([A-Za-z_]+\d*)\.DATA\s*\}\}")
# How long an id WeChat did not know stays "unknown" before it is looked up again.
RELOOKUP_AFTER = timedelta(minutes=10)
CACHE_SECONDS = 60.0
KIND_BY_TYPE = {2: TemplateKind.ONE_TIME, 3: TemplateKind.LONG_TERM}


def parse_keywords(content: str) -> list[dict[str, str]]:
    """The keywords of a template's content, in order: key, display name and rule type."""
    return [{"key": key, "name": name, "type": keyword_type(key)} for name, key in _KEYWORD.findall(content)]


def parse_enums(template: dict[str, Any]) -> dict[str, list[str]]:
    """`keywordEnumValueList` → {"enum_string2": [...]} ("keywordCode" is "enum_string2.DATA")."""
    enums: dict[str, list[str]] = {}
    for item in template.get("keywordEnumValueList") or []:
        key = str(item.get("keywordCode", "")).removesuffix(".DATA")
        if key:
            enums[key] = [str(value) for value in item.get("enumValueList") or []]
    return enums


def template_kind_of(remote: dict[str, Any], keywords: list[dict[str, str]], enums: dict[str, list[str]]) -> str:
    """one_time, long_term, or device: a long-term template whose every keyword is an enum.

    gettemplate does not say "device"; a device template's values are all platform-made enum
    values (docs/wechat.md §11), which no ordinary template has for each of its keywords.
    """
    kind = KIND_BY_TYPE.get(int(remote.get("type") or 2), TemplateKind.ONE_TIME)
    if kind == TemplateKind.LONG_TERM and keywords and all(enums.get(keyword["key"]) for keyword in keywords):
        return TemplateKind.DEVICE
    return kind


def _fields(remote: dict[str, Any], now) -> dict[str, Any]:
    keywords = parse_keywords(remote.get("content") or "")
    enums = parse_enums(remote)
    return {
        "kind": template_kind_of(remote, keywords, enums),
        "title": remote.get("title"),
        "keywords": keywords,
        "enum_values": enums,
        "synced": True,
        "banned_at": None,  # listed by WeChat: usable again after a 43107
        "updated_at": now,
    }


_TEMPLATE_ID_LIMIT = Template.__table__.c.id.type.length
_TITLE_LIMIT = Template.__table__.c.title.type.length


def _storable(app_id: str, remote: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """gettemplate's items that fit the catalog: a priTmplId longer than its column (or not a
    string) is left out, logged; a title longer than its column is cut (it is only shown).
    One odd item must not make every later look-up of the app fail."""
    kept = []
    for item in remote:
        template_id = item.get("priTmplId")
        if not isinstance(template_id, str) or not template_id or len(template_id) > _TEMPLATE_ID_LIMIT:
            length = len(template_id) if isinstance(template_id, str) else None
            extra = {"appid": app_id, "field": "priTmplId", "length": length, "limit": _TEMPLATE_ID_LIMIT}
            log.warning("wechat template left out: its id does not fit", extra=extra)
            continue
        title = item.get("title")
        if title is not None and not isinstance(title, str):
            title = str(title)
        if title is not None and len(title) > _TITLE_LIMIT:
            extra = {"appid": app_id, "template_id": template_id, "field": "title", "length": len(title)}
            log.warning("wechat template title cut to its column", extra=extra)
            title = title[:_TITLE_LIMIT]
        kept.append({**item, "title": title})
    return kept


def _store_listing(app_id: str, remote: list[dict[str, Any]], unconfirmed: Iterable[str] = ()) -> list[Template]:
    """Upsert what gettemplate listed (and a mark for each id of `unconfirmed` it did not), in a
    short transaction of its own on its own connection: never the caller's, which a read must not
    commit. Returns the listed templates as stored, detached.

    An upsert, since two requests may meet a new id at once. The caller holds no transaction here
    (the WeChat call before ended its read), so on SQLite the writer lock is free to take.
    """
    now = utcnow()
    listed = {item["priTmplId"]: _fields(item, now) for item in _storable(app_id, remote)}
    insert = upsertable_insert(Template)
    with db.engine.begin() as conn:
        for template_id, fields in listed.items():
            conn.execute(
                insert.values(app_id=app_id, id=template_id, created_at=now, **fields).on_conflict_do_update(
                    index_elements=["app_id", "id"], set_=fields
                )
            )
        for template_id in unconfirmed:
            if template_id not in listed:  # remember the miss, so the id is not looked up again for a while
                conn.execute(_unconfirmed_row(app_id, template_id, now))
    for template_id in listed:
        _cache().pop((app_id, template_id), None)
    stored = []
    for template_id, fields in listed.items():
        template = Template(app_id=app_id, id=template_id, **{k: v for k, v in fields.items() if k != "updated_at"})
        make_transient_to_detached(template)
        stored.append(template)
    return stored


def sync_templates(mini_program: MiniProgram) -> list[Template]:
    """Store every template of `mini_program`'s account as WeChat lists it (`flask wx templates sync`)."""
    return _store_listing(mini_program.appid, mini_program.client.templates.list())


def stored_template(app_id: str, template_id: str) -> Template | None:
    """`app_id`'s template as stored, if WeChat confirmed it; never calls WeChat (cached like get_template)."""
    cached = _cached(app_id, template_id)
    if cached is not None:
        return cached
    template = _stored(app_id, template_id)
    return _remember(template) if template is not None and template.synced else None


def _stored(app_id: str, template_id: str) -> Template | None:
    return db.session.get(Template, {"app_id": app_id, "id": template_id})


def _cache() -> dict[tuple[str, str], tuple[float, Template]]:
    return current_app.extensions.setdefault("template_cache", {})


def _cached(app_id: str, template_id: str) -> Template | None:
    entry = _cache().get((app_id, template_id))
    return entry[1] if entry is not None and entry[0] > time.monotonic() else None


def _remember(template: Template) -> Template:
    """Keep a copy outside any session (each request has its own) for CACHE_SECONDS."""
    copy = Template(
        app_id=template.app_id,
        id=template.id,
        kind=template.kind,
        title=template.title,
        keywords=template.keywords,
        enum_values=template.enum_values,
        synced=True,
        banned_at=template.banned_at,
    )
    _cache()[(template.app_id, template.id)] = (time.monotonic() + CACHE_SECONDS, copy)
    return template


_BANNED_AT = sa.select(Template.__table__.c.banned_at).where(
    Template.__table__.c.app_id == sa.bindparam("app_id"), Template.__table__.c.id == sa.bindparam("id")
)


def mark_banned(app_id: str, template_id: str) -> None:
    """Remember a 43107 for the template (in the caller's transaction); sends are refused until
    a sync finds it listed again. Other processes see it once their cached copy runs out."""
    now = utcnow()
    db.session.execute(_unconfirmed_row(app_id, template_id, now, banned_at=now))
    _cache().pop((app_id, template_id), None)


def _unconfirmed_row(app_id: str, template_id: str, now, **changes):
    """An upsert of a template WeChat has not confirmed: a new row inferred as one-time, or an
    existing row touched (with `changes`, e.g. banned_at) and otherwise left as it was."""
    return (
        upsertable_insert(Template)
        .values(
            app_id=app_id,
            id=template_id,
            kind=TemplateKind.ONE_TIME,
            synced=False,
            keywords=[],
            enum_values={},
            created_at=now,
            updated_at=now,
            **changes,
        )
        .on_conflict_do_update(index_elements=["app_id", "id"], set_={**changes, "updated_at": now})
    )


def is_banned(app_id: str, template_id: str) -> bool:
    """True while a 43107 for this template of `app_id` stands; never calls WeChat."""
    template = stored_template(app_id, template_id)
    if template is not None:
        return template.banned_at is not None
    # Not confirmed by WeChat, so not cached: read the mark. Through the session: on SQLite a
    # connection of its own would wait for the write lock the session's transaction holds.
    return db.session.scalar(_BANNED_AT, {"app_id": app_id, "id": template_id}) is not None


def refuse_if_banned(app_id: str, template_id: str) -> None:
    """TemplateBanned before any credit is spent, when an earlier send met 43107."""
    if is_banned(app_id, template_id):
        raise TemplateBanned(details={"template_id": template_id})


def get_template(mini_program: MiniProgram, template_id: str) -> Template | None:
    """The stored template; an unknown (or long unconfirmed) id is looked up at `mini_program`'s WeChat once.

    Returns None when WeChat does not know the id either, or cannot be asked right now:
    callers then infer what they need from the key names. Confirmed templates are cached in
    the process for CACHE_SECONDS: every send reads its template, and templates rarely change.
    A read: it commits nothing of the caller's (a look-up writes in its own transaction).
    """
    cached = _cached(mini_program.appid, template_id)
    if cached is not None:
        return cached
    return look_up(mini_program, [template_id]).get(template_id)


def look_up(mini_program: MiniProgram, template_ids: Iterable[str]) -> dict[str, Template]:
    """Those of `template_ids` WeChat confirmed, from the catalog, with one gettemplate call of
    `mini_program` for all the catalog lacks; an id WeChat did not know is not asked about again for
    RELOOKUP_AFTER."""
    found: dict[str, Template] = {}
    missing: list[str] = []
    for template_id in dict.fromkeys(template_ids):
        template = _stored(mini_program.appid, template_id)
        if template is not None and template.synced:
            found[template_id] = _remember(template)
        elif template is None or utcnow() - _aware(template.updated_at) >= RELOOKUP_AFTER:
            missing.append(template_id)
    if not missing:
        return found
    try:
        remote = mini_program.client.templates.list()
    except WeChatError as exc:
        log.warning("template lookup failed", extra={"template_ids": missing, "error": type(exc).__name__})
        return found
    listed = _store_listing(mini_program.appid, remote, missing)
    confirmed = {template.id: template for template in listed if template.id in missing}
    return {**found, **{template_id: _remember(template) for template_id, template in confirmed.items()}}


def _aware(moment):
    # SQLite returns naive datetimes for timezone-aware columns.
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)
