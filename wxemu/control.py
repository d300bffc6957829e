"""The control API under /_emulator: set up users, codes, templates, consent and faults.

For developers and tests only: JSON in and out, no auth. Errors are 400
`{"error": "<reason>"}`.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from wxemu.catalog import LONG_TERM, ONE_TIME
from wxemu.component import API_NAMES as COMPONENT_API_NAMES
from wxemu.dispatch import current_state
from wxemu.pusher import FORMATS, MODES, USER_DATA_EVENTS, PushTarget, event_message, user_data_message
from wxemu.state import Account, Keyword, Template

bp = Blueprint("emulator_control", __name__, url_prefix="/_emulator")

API_NAMES = frozenset(
    {
        "jscode2session",
        "token",
        "stable_token",
        "getuserphonenumber",
        "subscribe_send",
        "gettemplate",
        "getpubtemplatekeywords",
        "getpubtemplatetitles",
        "addtemplate",
        "deltemplate",
        "getcategory",
        "getsnticket",
        "device_subscribe_send",
        *COMPONENT_API_NAMES,
    }
)
FAULT_KINDS = ("errcode", "http_status", "late_ms", "drop")
POPUP_RESULTS = frozenset({"accept", "reject", "ban", "filter"})


class ControlError(Exception):
    """A bad control request: answered 400 with the message."""


@bp.errorhandler(ControlError)
def bad_request(error: ControlError):
    return jsonify(error=str(error)), 400


# --- body helpers ----------------------------------------------------------------


def body_object() -> dict:
    """The control call's JSON object (an empty body is {})."""
    body = request.get_json(silent=True)
    if body is None and not request.get_data():
        return {}
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def _opt_str(body: dict, name: str) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or not value):
        raise ControlError(f"{name} must be a non-empty string")
    return value


def _req_str(body: dict, name: str) -> str:
    value = _opt_str(body, name)
    if value is None:
        raise ControlError(f"{name} is required")
    return value


def _opt_int(body: dict, name: str, minimum: int = 0) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ControlError(f"{name} must be an integer >= {minimum}")
    return value


def _template(template_id: str, account: Account | None = None) -> Template:
    """The template `template_id` of `account`, or of whichever app has it."""
    account = account or current_state().account_of_template(template_id)
    template = account.templates.get(template_id) if account is not None else None
    if template is None:
        raise ControlError(f"unknown template {template_id}")
    return template


def _account(body: dict, openid: str | None = None) -> Account:
    """The app a control call is about: the `appid` it names, else the app that has `openid`,
    else the default app (DEV_APPID). Call with the state lock held."""
    state = current_state()
    appid = _opt_str(body, "appid")
    if appid is not None:
        if appid not in state.apps:
            raise ControlError(f"unknown app {appid}: add it with POST /_emulator/apps")
        return state.apps[appid]
    return (state.account_of_openid(openid) if openid else None) or state.default


# --- state ---------------------------------------------------------------------------


@bp.post("/reset")
def reset_state():
    """Fresh state: no users, tokens, templates, faults, log, latency or clock offset."""
    state = current_state()
    with state.lock:
        state.reset()
    return jsonify(ok=True)


@bp.post("/clock")
def advance_clock():
    """Move the emulator's clock forward, so tests expire tokens and codes without sleeping."""
    advance = body_object().get("advance")
    if isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0:
        raise ControlError("advance must be a number of seconds >= 0")
    state = current_state()
    with state.lock:
        state.clock_offset += advance
        return jsonify(now=state.now(), offset=state.clock_offset)


@bp.post("/config")
def set_config():
    """token_ttl (seconds) and pages (the page allow-list for send's 41030, or null)."""
    body = body_object()
    ttl = _opt_int(body, "token_ttl", minimum=1)
    pages = body.get("pages")
    if (
        "pages" in body
        and pages is not None
        and not (isinstance(pages, list) and all(isinstance(p, str) for p in pages))
    ):
        raise ControlError("pages must be a list of paths or null")
    state = current_state()
    with state.lock:
        if ttl is not None:
            state.token_ttl = ttl
        if "pages" in body:
            state.pages = None if pages is None else {p.split("?")[0].lstrip("/") for p in pages}
        return jsonify(token_ttl=state.token_ttl, pages=_sorted_or_none(state.pages))


def _sorted_or_none(pages: set[str] | None) -> list[str] | None:
    return None if pages is None else sorted(pages)


@bp.post("/latency")
def set_latency():
    """Every WeChat-facing call sleeps this long first."""
    ms = _opt_int(body_object(), "ms")
    if ms is None:
        raise ControlError("ms is required")
    state = current_state()
    with state.lock:
        state.latency_ms = ms
    return jsonify(ms=ms)


@bp.post("/tokens/invalidate")
def invalidate_tokens():
    """Every token issued so far (of `appid` only, when given) answers 40001 from now on."""
    body = body_object()
    state = current_state()
    with state.lock:
        appid = _account(body).appid if body.get("appid") is not None else None
        state.invalidate_tokens(appid)
    return jsonify(ok=True)


# --- apps ----------------------------------------------------------------------------


@bp.post("/apps")
def add_app():
    """Host another mini program: {"appid", "secret", "token"?, "encoding_aes_key"?} (its push keys)."""
    body = body_object()
    appid, secret = _req_str(body, "appid"), _req_str(body, "secret")
    aes_key = _opt_str(body, "encoding_aes_key")
    if aes_key is not None and len(aes_key) != 43:
        raise ControlError("encoding_aes_key must have 43 characters")
    state = current_state()
    with state.lock:
        state.add_app(appid, secret, _opt_str(body, "token"), aes_key)
        return jsonify(appid=appid, apps=sorted(state.apps))


@bp.get("/apps")
def list_apps():
    state = current_state()
    with state.lock:
        return jsonify(apps=sorted(state.apps), default=state.default_appid)


# --- users and codes -----------------------------------------------------------------


@bp.post("/users")
def create_user():
    body = body_object()
    state = current_state()
    with state.lock:
        account = _account(body)
        user = account.ensure_user(_opt_str(body, "openid"), _opt_str(body, "unionid"))
        return jsonify(openid=user.openid, unionid=user.unionid)


@bp.post("/login_codes")
def create_login_code():
    """A wx.login code for a user of `appid` (default app) (created when needed): the same unionid
    in two apps is one person with an openid in each."""
    body = body_object()
    state = current_state()
    with state.lock:
        account = _account(body)
        code, user = account.new_login_code(_opt_str(body, "openid"), _opt_str(body, "unionid"))
        return jsonify(code=code, openid=user.openid, appid=account.appid)


@bp.post("/phone_codes")
def create_phone_code():
    """A getPhoneNumber code; country_code may be a string or a number, as WeChat's varies."""
    body = body_object()
    phone = _req_str(body, "phone_number")
    country_code = body.get("country_code", 86)
    if isinstance(country_code, bool) or not isinstance(country_code, str | int):
        raise ControlError("country_code must be a string or an integer")
    state = current_state()
    with state.lock:
        openid = _opt_str(body, "openid")
        code = _account(body, openid).new_phone_code(openid, phone, country_code)
    return jsonify(code=code)


# --- templates and consent -----------------------------------------------------------


@bp.post("/templates")
def create_template():
    """Register a private template directly (no public library needed)."""
    body = body_object()
    title = _req_str(body, "title")
    type_ = body.get("type", ONE_TIME)
    if type_ not in (ONE_TIME, LONG_TERM) or isinstance(type_, bool):
        raise ControlError("type must be 2 (one-time) or 3 (long-term)")
    keywords = _keywords(body.get("keywords"), body.get("enums") or {})
    state = current_state()
    with state.lock:
        pri_id = _opt_str(body, "priTmplId")
        template = _account(body).add_template(title, type_, keywords, pri_id=pri_id)
        return jsonify(template.listing())


def _keywords(items: object, enums: object) -> list[Keyword]:
    if not isinstance(items, list) or not items:
        raise ControlError("keywords must be a non-empty list of {key, name}")
    if not isinstance(enums, dict):
        raise ControlError("enums must map keys to lists of values")
    keywords = []
    for item in items:
        if not isinstance(item, dict):
            raise ControlError("each keyword must be an object {key, name, example?}")
        key = _req_str(item, "key")
        values = enums.get(key)
        if values is not None and not (isinstance(values, list) and all(isinstance(v, str) for v in values)):
            raise ControlError(f"enums.{key} must be a list of strings")
        name = _opt_str(item, "name") or key
        example = _opt_str(item, "example") or ""
        keywords.append(Keyword(key, name, example, tuple(values) if values is not None else None))
    if len({k.key for k in keywords}) != len(keywords):
        raise ControlError("keyword keys must be distinct")
    return keywords


@bp.post("/templates/<template_id>/ban")
def ban_template(template_id: str):
    """The platform bans a template: sends with it answer 43107 and gettemplate leaves it out."""
    return _set_banned(template_id, True)


@bp.post("/templates/<template_id>/unban")
def unban_template(template_id: str):
    """The ban is lifted: the template is sendable and listed again."""
    return _set_banned(template_id, False)


def _set_banned(template_id: str, banned: bool):
    state = current_state()
    with state.lock:
        template = _template(template_id)
        template.banned = banned
        return jsonify(priTmplId=template.pri_id, banned=template.banned)


@bp.post("/blacklist")
def set_blacklist():
    """The sensitive words: a send whose value contains one answers 45168. Replaces the list."""
    words = body_object().get("words")
    if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
        raise ControlError("words must be a list of non-empty strings")
    state = current_state()
    with state.lock:
        state.blacklist = set(words)
        return jsonify(words=sorted(state.blacklist))


@bp.get("/blacklist")
def get_blacklist():
    state = current_state()
    with state.lock:
        return jsonify(words=sorted(state.blacklist))


@bp.post("/popup")
def answer_popup():
    """The user answered wx.requestSubscribeMessage: accept / reject per template."""
    body = body_object()
    openid = _req_str(body, "openid")
    results = body.get("results")
    if not isinstance(results, dict) or not results:
        raise ControlError("results must map template ids to accept/reject")
    scene = _opt_int(body, "scene") or 0
    state = current_state()
    with state.lock:
        account = _account(body, openid)
        answers = [(_template(tid, account), result) for tid, result in results.items()]
        if any(result not in POPUP_RESULTS for _, result in answers):
            raise ControlError(f"results must be one of {sorted(POPUP_RESULTS)}")
        account.ensure_user(openid)
        if openid in account.main_switch_off:
            # wx.requestSubscribeMessage fails: no popup, no credit, no push (docs/wechat.md §5).
            return jsonify(errCode=20004, errMsg="requestSubscribeMessage:fail The main switch is switched off")
        for template, result in answers:
            account.popup(openid, template, result)
        subscriptions = account.subscriptions_of(openid)
    # WeChat pushes only what the user tapped: accept or reject (ban / filter never reach the user).
    items = [
        {"TemplateId": t.pri_id, "SubscribeStatusString": r, "PopupScene": scene}
        for t, r in answers
        if r in ("accept", "reject")
    ]
    status = account.pusher.push_now(event_message(openid, "subscribe_msg_popup_event", items)) if items else None
    return jsonify(subscriptions=subscriptions, push_status=status)


@bp.post("/settings")
def change_setting():
    """The user turned a template off in the mini program's settings."""
    body = body_object()
    openid = _req_str(body, "openid")
    if body.get("status") != "reject":
        raise ControlError("status must be reject")
    state = current_state()
    with state.lock:
        account = _account(body, openid)
        template = _template(_req_str(body, "template_id"), account)
        account.turn_off(openid, template)
        subscriptions = account.subscriptions_of(openid)
    item = {"TemplateId": template.pri_id, "SubscribeStatusString": "reject"}
    status = account.pusher.push_now(event_message(openid, "subscribe_msg_change_event", [item]))
    return jsonify(subscriptions=subscriptions, push_status=status)


@bp.post("/user-data")
def push_user_data_change():
    """WeChat tells the mini program a user's data changed (authorized_user_information_changes):
    {"openid", "event", "revoke_info"?, "create_time"?, "stray_spaces"?, "appid"?}.

    `event`: user_info_modified, user_authorization_revoke (with `revoke_info`, e.g. "8": the
    phone number) or user_authorization_cancellation (the account was closed). `create_time`
    repeats a push as WeChat's retry does; `stray_spaces` writes the JSON keys as WeChat's own
    sample does (`" OpenID"`). Pushed at once to the app's push target.
    """
    body = body_object()
    openid = _req_str(body, "openid")
    event = _req_str(body, "event")
    if event not in USER_DATA_EVENTS:
        raise ControlError(f"event must be one of {USER_DATA_EVENTS}")
    revoke_info = body.get("revoke_info", "")
    if not isinstance(revoke_info, str | int) or isinstance(revoke_info, bool):
        raise ControlError("revoke_info must be a string or a number")
    state = current_state()
    with state.lock:
        account = _account(body)
        if event == "user_authorization_cancellation":
            account.users.pop(openid, None)  # the WeChat account is gone
    message = user_data_message(account.appid, openid, event, str(revoke_info), _opt_int(body, "create_time"))
    if body.get("stray_spaces"):
        message = {f" {key} " if key in ("OpenID", "AppID", "RevokeInfo") else key: v for key, v in message.items()}
    return jsonify(push_status=account.pusher.push_now(message))


@bp.post("/main_switch")
def set_main_switch():
    """The user turned every subscribe message of the app on or off: {"openid", "on": bool, "appid"?}.
    Off, the popup fails with 20004 and sends answer 43101; wx.getSetting says `mainSwitch: false`."""
    body = body_object()
    openid = _req_str(body, "openid")
    on = body.get("on")
    if not isinstance(on, bool):
        raise ControlError("on must be true or false")
    state = current_state()
    with state.lock:
        account = _account(body, openid)
        account.ensure_user(openid)
        if on:
            account.main_switch_off.discard(openid)
        else:
            account.main_switch_off.add(openid)
    return jsonify(openid=openid, main_switch=on)


@bp.post("/quota")
def set_quota():
    """subscribe/send's daily limit of an app: {"daily_limit", "used"?, "appid"?}; `used` sets
    today's count (a day well under way). Past the limit, sends answer 45009."""
    body = body_object()
    limit = _opt_int(body, "daily_limit")
    used = _opt_int(body, "used")
    if limit is None:
        raise ControlError("daily_limit must be a number >= 0")
    state = current_state()
    with state.lock:
        account = _account(body)
        account.send_limit = limit
        if used is not None:
            account.sends_by_day = {account.today(): used}
        return jsonify(daily_limit=account.send_limit, used=account.sends_today())


@bp.post("/push")
def configure_push():
    """Push an app's events to the backend: {"url", "token", "encoding_aes_key"?, "format", "mode", "appid"?}.

    Each app has its own push target; `token` and `encoding_aes_key` default to those the app was
    added with (POST /_emulator/apps).
    """
    body = body_object()
    fmt = body.get("format", "json")
    mode = body.get("mode", "plain")
    if fmt not in FORMATS or mode not in MODES:
        raise ControlError(f"format must be one of {FORMATS}, mode one of {MODES}")
    state = current_state()
    with state.lock:
        account = _account(body)
    aes_key = _opt_str(body, "encoding_aes_key") or account.encoding_aes_key
    if mode != "plain" and (aes_key is None or len(aes_key) != 43):
        raise ControlError("safe and compatible modes need the 43-character encoding_aes_key")
    token = _opt_str(body, "token") or account.push_token
    if token is None:
        raise ControlError("token is required")
    account.pusher.target = PushTarget(
        url=_req_str(body, "url"),
        token=token,
        appid=account.appid,
        encoding_aes_key=aes_key,
        format=fmt,
        mode=mode,
    )
    return jsonify(ok=True)


@bp.delete("/push")
def stop_push():
    """No more pushes (of `appid` only, given in the query; else of every app)."""
    state = current_state()
    appid = request.args.get("appid")
    for account in state.apps.values():
        if appid is None or account.appid == appid:
            account.pusher.target = None
    return jsonify(ok=True)


@bp.post("/push/flush")
def flush_push():
    """Wait until every queued push (sent events, of every app) has reached the backend."""
    for account in list(current_state().apps.values()):
        account.pusher.flush()
    return jsonify(ok=True)


@bp.get("/subscriptions")
def list_subscriptions():
    openid = request.args.get("openid")
    if not openid:
        raise ControlError("openid is required")
    state = current_state()
    with state.lock:
        account = state.account_of_openid(openid) or state.default
        return jsonify(openid=openid, subscriptions=account.subscriptions_of(openid))


# --- faults, log, sent messages ------------------------------------------------------


@bp.post("/faults")
def add_fault():
    """Make the next `times` calls of `api` fail one way (errcode, http_status, late_ms, drop)."""
    body = body_object()
    api = _req_str(body, "api")
    if api != "*" and api not in API_NAMES:
        raise ControlError(f"api must be * or one of {sorted(API_NAMES)}")
    kinds = [kind for kind in FAULT_KINDS if body.get(kind) is not None and body[kind] is not False]
    if len(kinds) != 1:
        raise ControlError(f"give exactly one of {', '.join(FAULT_KINDS)}")
    spec = {
        "api": api,
        "times": _opt_int(body, "times", minimum=1),
        "errcode": _opt_int(body, "errcode", minimum=-(2**31)),
        "http_status": _opt_int(body, "http_status", minimum=100),
        "late_ms": _opt_int(body, "late_ms"),
    }
    if "drop" in kinds and body["drop"] is not True:
        raise ControlError("drop must be true")
    state = current_state()
    with state.lock:
        fault = state.add_fault(**spec, drop="drop" in kinds)
    return jsonify(id=fault.id)


@bp.get("/faults")
def list_faults():
    state = current_state()
    with state.lock:
        return jsonify(faults=state.fault_list())


@bp.delete("/faults")
def clear_faults():
    state = current_state()
    with state.lock:
        state.faults.clear()
    return jsonify(ok=True)


@bp.get("/log")
def get_log():
    """Every WeChat-facing call: api, method, path, errcode, time (never a secret or token)."""
    state = current_state()
    with state.lock:
        return jsonify(calls=list(state.calls))


@bp.delete("/log")
def clear_log():
    state = current_state()
    with state.lock:
        state.calls.clear()
    return jsonify(ok=True)


@bp.get("/sent")
def list_sent():
    """The messages subscribe/send delivered, oldest first (a bare JSON list)."""
    state = current_state()
    with state.lock:
        return jsonify(list(state.sent))
