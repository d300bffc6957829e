"""Device subscribe messages in the emulator (docs/wechat.md §11): getsnticket, the device
send, and the control routes that register device types and play the phone's device popup."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from wxemu.catalog import LONG_TERM
from wxemu.control import ControlError, _req_str
from wxemu.control import body_object as _body
from wxemu.device_state import POPUP_RESULTS, PopupRefused
from wxemu.dispatch import current_state, json_body, wechat_route
from wxemu.errors import WxError
from wxemu.state import EmulatorState, Keyword, Template
from wxemu.wechat_api import LANGS, MINIPROGRAM_STATES, _checked_page, _choice

bp = Blueprint("device_api", __name__)
control_bp = Blueprint("device_control", __name__, url_prefix="/_emulator")


@control_bp.errorhandler(ControlError)
def _bad_request(error: ControlError):
    return jsonify(error=str(error)), 400


# --- WeChat-facing ---------------------------------------------------------------------


@wechat_route(bp, "/wxa/getsnticket", "getsnticket", "POST")
def get_sn_ticket(state: EmulatorState) -> dict:
    """getSnTicket: a ticket for one device's popup, valid 5 minutes (§11a)."""
    state.check_token(request.args.get("access_token"))
    body = json_body()
    ticket = state.devices.issue_ticket(body.get("model_id"), body.get("sn"), state.now())
    return {"errcode": 0, "errmsg": "ok", "sn_ticket": ticket}


@wechat_route(bp, "/cgi-bin/message/device/subscribe/send", "device_subscribe_send", "POST")
def send_device_message(state: EmulatorState) -> dict:
    """sendHardwareDeviceMessage (§11c): every recipient must hold an accept for this
    (template, model_id, sn); all are checked before any is delivered. No msgid."""
    state.check_token(request.args.get("access_token"))
    body = json_body()
    book = state.devices
    openids = _openid_list(state, body.get("to_openid_list"))
    model_id = _model_id(body)
    sn = body.get("sn")
    if not isinstance(sn, str) or not sn:
        raise WxError(47001)
    template = state.templates.get(body.get("template_id") if isinstance(body.get("template_id"), str) else "")
    if template is None or template.pri_id not in book.model_of:
        raise WxError(40037)  # unknown, or not a device template (a one-time one sent here)
    page = _checked_page(state, body.get("page"))
    mp_state = _choice(body, "miniprogram_state", MINIPROGRAM_STATES, "formal")
    lang = _choice(body, "lang", LANGS, "zh_CN")
    _check_enum_data(template, body.get("data"))
    for openid in openids:
        book.check_subscribed(openid, template.pri_id, model_id, sn)
    for openid in openids:
        book.sent.append(
            {
                "touser": openid,
                "template_id": template.pri_id,
                "model_id": model_id,
                "sn": sn,
                "data": body["data"],
                "page": page,
                "miniprogram_state": mp_state,
                "lang": lang,
                "at": state.now(),
            }
        )
    return {"errcode": 0, "errmsg": "ok"}


def _openid_list(state: EmulatorState, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise WxError(47001)
    if not value:
        raise WxError(40032)  # "invalid openid list size"
    for openid in value:
        if openid not in state.users:
            raise WxError(40003)
    return value


def _model_id(body: dict) -> str:
    """The device type, spelled `modelId` (the doc, WxJava) or `model_id` (a community report)."""
    given = {body[name] for name in ("modelId", "model_id") if name in body}
    if len(given) != 1:
        raise WxError(47001)  # missing, or the two spellings disagree
    model_id = given.pop()
    if not isinstance(model_id, str) or not model_id:
        raise WxError(47001)
    return model_id


def _check_enum_data(template: Template, data: object) -> None:
    """47003 naming the first keyword whose value is missing or not one of its enum values."""
    if not isinstance(data, dict):
        raise WxError(47001)
    for keyword in template.keywords:
        entry = data.get(keyword.key)
        value = entry.get("value") if isinstance(entry, dict) else None
        if value is None or value == "":
            raise WxError(47003, f"data.{keyword.key}.value is empty")
        if not isinstance(value, str) or value not in (keyword.enum_values or ()):
            raise WxError(47003, f"data.{keyword.key}.value invalid")


# --- control ---------------------------------------------------------------------------


@control_bp.post("/devices")
def register_device_type():
    """A device type that passed device access, with its templates, whose keywords are all enums."""
    body = _body()
    model_id = _req_str(body, "model_id")
    items = body.get("templates")
    if not isinstance(items, list) or not items:
        raise ControlError("templates must be a non-empty list of {priTmplId, title, keywords}")
    specs = [_template_spec(item) for item in items]
    state = current_state()
    with state.lock:
        book = state.devices
        for pri_id, _, _ in specs:
            owner = book.model_of.get(pri_id)
            if (owner is None and pri_id in state.templates) or (owner is not None and owner != model_id):
                raise ControlError(f"template {pri_id} exists already and is not one of {model_id}")
        templates = [state.add_template(title, LONG_TERM, keywords, pri_id=pri_id) for pri_id, title, keywords in specs]
        book.add_model(model_id, [template.pri_id for template in templates])
        return jsonify(model_id=model_id, templates=[template.listing() for template in templates])


def _template_spec(item: object) -> tuple[str, str, list[Keyword]]:
    if not isinstance(item, dict):
        raise ControlError("each template must be an object {priTmplId, title, keywords}")
    pri_id, title = _req_str(item, "priTmplId"), _req_str(item, "title")
    keywords = item.get("keywords")
    if not isinstance(keywords, list) or not keywords:
        raise ControlError(f"{pri_id}: keywords must be a non-empty list of {{key, name, enum}}")
    parsed = []
    for keyword in keywords:
        if not isinstance(keyword, dict):
            raise ControlError(f"{pri_id}: each keyword must be an object {{key, name, enum}}")
        key = _req_str(keyword, "key")
        values = keyword.get("enum")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise ControlError(f"{pri_id}.{key}: enum must be a non-empty list of strings")
        parsed.append(Keyword(key, keyword.get("name") or key, "", tuple(values)))
    if len({k.key for k in parsed}) != len(parsed):
        raise ControlError(f"{pri_id}: keyword keys must be distinct")
    return pri_id, title, parsed


@control_bp.get("/devices")
def list_device_types():
    state = current_state()
    with state.lock:
        models = state.devices.models
        return jsonify(devices=[{"model_id": m, "templates": sorted(ids)} for m, ids in models.items()])


@control_bp.post("/device_popup")
def answer_device_popup():
    """The user taps a device popup (wx.requestSubscribeDeviceMessage) with `results` per template.

    Answers 200 with `result`: what the phone hands the mini program, the success object
    (`errMsg` and a status per template) or the fail object with its errCode (§11b).
    """
    body = _body()
    openid, model_id, sn = _req_str(body, "openid"), _req_str(body, "model_id"), _req_str(body, "sn")
    ticket = body.get("sn_ticket")
    results = body.get("results")
    if not isinstance(results, dict) or any(result not in POPUP_RESULTS for result in results.values()):
        raise ControlError(f"results must map template ids to one of {sorted(POPUP_RESULTS)}")
    state = current_state()
    with state.lock:
        book = state.devices
        try:
            book.check_popup(ticket if isinstance(ticket, str) else "", model_id, sn, list(results), state.now())
        except PopupRefused as refused:
            return jsonify(result=refused.answer(), subscriptions=book.subscriptions_of(openid))
        state.ensure_user(openid)
        for template_id, result in results.items():
            book.answer(openid, template_id, model_id, sn, result)
        answer = {"errMsg": "requestSubscribeDeviceMessage:ok", **results}
        return jsonify(result=answer, subscriptions=book.subscriptions_of(openid))


@control_bp.post("/device_settings")
def turn_off_device_subscription():
    """The user cancelled a device subscription: sends for it answer 43101."""
    body = _body()
    key = tuple(_req_str(body, name) for name in ("openid", "template_id", "model_id", "sn"))
    state = current_state()
    with state.lock:
        book = state.devices
        if not book.turn_off(*key):
            raise ControlError("no such device subscription")
        return jsonify(subscriptions=book.subscriptions_of(key[0]))


@control_bp.get("/device_subscriptions")
def list_device_subscriptions():
    openid = request.args.get("openid")
    if not openid:
        raise ControlError("openid is required")
    state = current_state()
    with state.lock:
        return jsonify(openid=openid, subscriptions=state.devices.subscriptions_of(openid))


@control_bp.get("/device_sent")
def list_device_sent():
    """The device messages delivered, one entry per recipient, oldest first (a bare JSON list)."""
    state = current_state()
    with state.lock:
        return jsonify(list(state.devices.sent))
