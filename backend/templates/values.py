"""Template values checked against their keyword rules before WeChat sees them (47003 avoided)."""

from __future__ import annotations

from typing import Any

from backend.errors import InvalidTemplateData
from backend.models import Template
from backend.wechat.keyword_rules import check_value, keyword_type, truncate_value

MAX_KEYS = 30


def normalize_values(data: Any) -> tuple[dict[str, str], dict[str, str]]:
    """`{"thing1": "text" | {"value": "text"}}` → ({"thing1": "text"}, errors by key)."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    if not isinstance(data, dict) or not data:
        return values, {"data": "must be a non-empty object of keyword values"}
    if len(data) > MAX_KEYS:
        return values, {"data": f"at most {MAX_KEYS} keywords"}
    for key, raw in data.items():
        value = raw.get("value") if isinstance(raw, dict) and set(raw) == {"value"} else raw
        if not isinstance(value, str):
            errors[key] = 'must be a string or {"value": "<string>"}'
        else:
            values[key] = value
    return values, errors


def validate_data(template: Template | None, data: Any, *, truncate: bool = False) -> dict[str, str]:
    """The values to send, or InvalidTemplateData with a reason per key; nothing is sent then.

    With a synced template every keyword is required and unknown keys are refused; without
    one, the types come from the key names (`thing1` is a thing). `truncate` shortens
    over-long free-text values (ending in `…`) instead of refusing them.
    """
    values, errors = normalize_values(data)
    keywords = {kw["key"]: kw for kw in template.keywords} if template and template.synced else {}
    enums = template.enum_values if template else {}
    if keywords:
        errors.update({key: "is not a keyword of this template" for key in values if key not in keywords})
        errors.update({key: "is required" for key in keywords if key not in values and key not in errors})
    checked: dict[str, str] = {}
    for key, value in values.items():
        if key in errors:
            continue
        kind = keyword_type(key)
        value = value.strip()  # the rules count what is left without surrounding spaces; so does WeChat's card
        if truncate:
            value = truncate_value(kind, value)
        reason = check_value(kind, value, enums.get(key))
        if reason:
            errors[key] = reason
        else:
            checked[key] = value
    if errors:
        raise InvalidTemplateData("Template data breaks WeChat's rules; nothing was sent.", errors)
    return checked
