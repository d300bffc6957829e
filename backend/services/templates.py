"""Templates: synced from WeChat's gettemplate, looked up once when an unknown id shows up."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from flask import current_app

from backend.extensions import db
from backend.models import Template, utcnow
from backend.wechat.errors import WeChatError
from backend.wechat.keyword_rules import keyword_type

log = logging.getLogger(__name__)

# gettemplate's content: "会议时间:{{date2.DATA}}\n会议地点:{{thing1.DATA}}\n"
_KEYWORD = re.compile(r"(?:^|\n)\s*([^\n{}]*?)\s*[:：]?\s*\{\{\s*([A-Za-z_]+\d*)\.DATA\s*\}\}")
# How long an id WeChat did not know stays "unknown" before it is looked up again.
RELOOKUP_AFTER = timedelta(minutes=10)
KIND_BY_TYPE = {2: "one_time", 3: "long_term"}


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


def _store(remote: dict[str, Any]) -> Template:
    template = db.session.get(Template, remote["priTmplId"]) or Template(id=remote["priTmplId"])
    template.kind = KIND_BY_TYPE.get(int(remote.get("type") or 2), "one_time")
    template.title = remote.get("title")
    template.keywords = parse_keywords(remote.get("content") or "")
    template.enum_values = parse_enums(remote)
    template.synced = True
    template.updated_at = utcnow()
    db.session.add(template)
    return template


def sync_templates() -> list[Template]:
    """Store every template of the account as WeChat lists it (`flask wx templates sync`)."""
    remote = current_app.extensions["wechat"].templates.list()
    stored = [_store(item) for item in remote]
    db.session.commit()
    return stored


def inferred_template(template_id: str, keys: list[str] | None = None) -> Template:
    """A template WeChat could not describe: a one-time template whose keys give their types."""
    return Template(
        id=template_id,
        kind="one_time",
        synced=False,
        keywords=[{"key": key, "name": key, "type": keyword_type(key)} for key in keys or []],
        enum_values={},
    )


def get_template(template_id: str) -> Template | None:
    """The stored template; an unknown (or long unconfirmed) id is looked up at WeChat once.

    Returns None when WeChat does not know the id either, or cannot be asked right now:
    callers then infer what they need from the key names.
    """
    template = db.session.get(Template, template_id)
    if template is not None and (template.synced or utcnow() - _aware(template.updated_at) < RELOOKUP_AFTER):
        return template
    try:
        remote = current_app.extensions["wechat"].templates.list()
    except WeChatError as exc:
        log.warning("template lookup failed", extra={"template_id": template_id, "error": type(exc).__name__})
        return template
    found = None
    for item in remote:
        stored = _store(item)
        if stored.id == template_id:
            found = stored
    if found is None:
        found = template or inferred_template(template_id)
        found.updated_at = utcnow()  # remember the miss for RELOOKUP_AFTER
        db.session.add(found)
    db.session.commit()
    return found if found.synced else None


def _aware(moment):
    # SQLite returns naive datetimes for timezone-aware columns.
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)
