"""`/wechat/push`: WeChat's message push (URL verification and events)."""

from flask import Blueprint, request

from backend.services import push

bp = Blueprint("push", __name__)
TEXT = {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/wechat/push")
def verify_push_url():
    return push.verify_url(request.args), 200, TEXT


@bp.post("/wechat/push")
def receive_push():
    try:
        message = push.authenticate(request.args, request.get_data())
    except (push.PushRefused, push.PushMalformed) as exc:
        push.record_refusal(exc.message, request.args)
        raise
    push.handle(message)
    return "success", 200, TEXT
