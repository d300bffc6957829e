"""WeChat-facing template management routes, /wxaapi/newtmpl/* (docs/wechat.md §8)."""

from __future__ import annotations

import contextlib
import json

from flask import Blueprint, request

from wxemu.catalog import CATEGORIES, PUBLIC_TEMPLATES, PubTemplate, find_public
from wxemu.dispatch import json_body, wechat_route
from wxemu.errors import WxError
from wxemu.state import MAX_PRIVATE_TEMPLATES, EmulatorState, Keyword

bp = Blueprint("newtmpl_api", __name__, url_prefix="/wxaapi/newtmpl")

MAX_TITLES_LIMIT = 30
MAX_SCENE_DESC = 15
KID_COUNT = range(2, 6)  # kidList takes 2 to 5 keyword ids


def _ok(**fields: object) -> dict:
    return {"errcode": 0, "errmsg": "ok", **fields}


@wechat_route(bp, "/gettemplate", "gettemplate", "GET")
def list_templates(state: EmulatorState) -> dict:
    """getTemplateList: the account's private templates, less those the platform banned.

    The listing documents no status field (docs/wechat.md §8), so a banned template is left out
    rather than flagged in a way no real answer shows: a backend sees it again once unbanned.
    """
    account = state.check_token(request.args.get("access_token"))  # the token's app: its own templates
    return _ok(data=[t.listing() for t in account.templates.values() if not t.banned])


@wechat_route(bp, "/getcategory", "getcategory", "GET")
def list_categories(state: EmulatorState) -> dict:
    """getCategory: the account's categories."""
    state.check_token(request.args.get("access_token"))
    return _ok(data=list(CATEGORIES))


@wechat_route(bp, "/getpubtemplatekeywords", "getpubtemplatekeywords", "GET")
def list_public_keywords(state: EmulatorState) -> dict:
    """getPubTemplateKeyWordsById: the keywords of public template `tid`."""
    state.check_token(request.args.get("access_token"))
    public = _public_template(request.args.get("tid"))
    data = [{"kid": k.kid, "name": k.name, "example": k.example, "rule": k.rule} for k in public.keywords]
    return _ok(count=len(data), data=data)


@wechat_route(bp, "/getpubtemplatetitles", "getpubtemplatetitles", "GET")
def list_public_titles(state: EmulatorState) -> dict:
    """getPubTemplateTitleList: public templates in the given categories, one page."""
    state.check_token(request.args.get("access_token"))
    ids = _category_ids(request.args.get("ids"))
    start = _int_in(request.args.get("start"), range(0, 2**31), 200016)
    limit = _int_in(request.args.get("limit"), range(1, MAX_TITLES_LIMIT + 1), 200017)
    found = [t for t in PUBLIC_TEMPLATES if t.category_id in ids]
    data = [
        {"tid": t.tid, "title": t.title, "type": t.type, "categoryId": str(t.category_id)}
        for t in found[start : start + limit]
    ]
    return _ok(count=len(found), data=data)


@wechat_route(bp, "/addtemplate", "addtemplate", "POST")
def add_template(state: EmulatorState) -> dict:
    """addMessageTemplate: copy chosen keywords of a public template into the account.

    The old doc wants a form body (`kidList` repeated), the new one JSON: both work.
    """
    account = state.check_token(request.args.get("access_token"))
    tid, kids, scene = _addtemplate_params()
    public = _public_template(tid)
    keywords = _chosen_keywords(public, kids)
    if scene is not None and (not isinstance(scene, str) or len(scene) > MAX_SCENE_DESC):
        raise WxError(200021)
    if len(account.templates) >= MAX_PRIVATE_TEMPLATES:
        raise WxError(200012)  # at most 25 private templates per app
    template = account.add_template(public.title, public.type, keywords, tid=public.tid, scene_desc=scene)
    return _ok(priTmplId=template.pri_id)


@wechat_route(bp, "/deltemplate", "deltemplate", "POST")
def delete_template(state: EmulatorState) -> dict:
    """deleteMessageTemplate: remove a private template."""
    account = state.check_token(request.args.get("access_token"))
    pri_id = _form_or_json().get("priTmplId")
    if not isinstance(pri_id, str) or account.templates.pop(pri_id, None) is None:
        raise WxError(40037)  # no official table; WeChat's wording for a bad template id
    return _ok()


# --- parameters ------------------------------------------------------------------


def _is_form() -> bool:
    return request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")


def _form_or_json() -> dict:
    if _is_form():
        return request.form.to_dict()
    return json_body()


def _addtemplate_params() -> tuple[object, object, object]:
    """tid, kidList and sceneDesc from a form or a JSON body."""
    if not _is_form():
        body = json_body()
        return body.get("tid"), body.get("kidList"), body.get("sceneDesc")
    kids: object = request.form.getlist("kidList")
    if len(kids) == 1 and kids[0].startswith("["):
        with contextlib.suppress(ValueError):
            kids = json.loads(kids[0])  # kidList=[1,2] as a JSON array
    return request.form.get("tid"), kids, request.form.get("sceneDesc")


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    return None


def _int_in(value: object, allowed: range, errcode: int) -> int:
    number = _as_int(value)
    if number is None or number not in allowed:
        raise WxError(errcode)
    return number


def _public_template(tid: object) -> PubTemplate:
    public = find_public(_as_int(tid) or 0)
    if public is None:
        raise WxError(200014)  # tid missing or unknown
    return public


def _chosen_keywords(public: PubTemplate, kids: object) -> list[Keyword]:
    """The keywords for kidList, in its order: 2-5 distinct kids of the template (200020)."""
    if not isinstance(kids, list) or len(kids) not in KID_COUNT:
        raise WxError(200020)
    chosen = [public.keyword(_as_int(kid) or 0) for kid in kids]
    if None in chosen or len({k.kid for k in chosen}) != len(chosen):
        raise WxError(200020)
    return [Keyword(k.key, k.name, k.example, k.enum_values or None) for k in chosen]


def _category_ids(text: object) -> set[int]:
    if not isinstance(text, str) or not text.strip():
        raise WxError(200018)  # category ids missing
    ids = [_as_int(part) for part in text.split(",")]
    if None in ids:
        raise WxError(200019)
    return set(ids)
