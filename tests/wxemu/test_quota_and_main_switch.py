"""The emulator's getApiQuota, its daily limit of subscribe/send (45009), and a user's main switch."""

from __future__ import annotations

from tests.wxemu.samples import ORDER_DATA
from tests.wxemu.test_emulator_api import control

SEND_PATH = "/cgi-bin/message/subscribe/send"


def send(emulator, token: str, openid: str, template_id: str) -> dict:
    body = {"touser": openid, "template_id": template_id, "data": ORDER_DATA}
    return emulator.post(SEND_PATH, query_string={"access_token": token}, json=body).get_json()


def quota(emulator, token: str, cgi_path: str = SEND_PATH) -> dict:
    return emulator.post(
        "/cgi-bin/openapi/quota/get", query_string={"access_token": token}, json={"cgi_path": cgi_path}
    ).get_json()


def test_quota_counts_sends_and_45009_past_the_limit(emulator, token, make_user, make_template):
    template_id, openid = make_template(), make_user()
    control(emulator, "/quota", daily_limit=2)
    for _ in range(3):
        control(emulator, "/popup", openid=openid, results={template_id: "accept"})
    assert quota(emulator, token)["quota"] == {"daily_limit": 2, "used": 0, "remain": 2}
    assert send(emulator, token, openid, template_id)["errcode"] == 0
    assert send(emulator, token, openid, template_id)["errcode"] == 0
    assert send(emulator, token, openid, template_id)["errcode"] == 45009  # the day's limit: the credit is kept
    assert quota(emulator, token)["quota"] == {"daily_limit": 2, "used": 2, "remain": 0}
    subscriptions = control(emulator, f"/subscriptions?openid={openid}", method="GET")["subscriptions"]
    assert subscriptions[template_id]["remaining"] == 1
    control(emulator, "/quota", daily_limit=3)  # raised: the next send goes through
    assert send(emulator, token, openid, template_id)["errcode"] == 0


def test_quota_refuses_an_unknown_path_and_a_bad_token(emulator, token):
    assert quota(emulator, token, "/wxa/unknown")["errcode"] == 76021
    assert quota(emulator, "bad-token")["errcode"] in (40001, 40014)


def test_quota_control_sets_the_days_use(emulator, token):
    assert control(emulator, "/quota", daily_limit=100, used=95) == {"daily_limit": 100, "used": 95}
    assert quota(emulator, token)["quota"]["remain"] == 5
    response = emulator.post("/_emulator/quota", json={"used": 3})
    assert response.status_code == 400


def test_main_switch_off_fails_the_popup_and_the_send(emulator, token, make_user, make_template):
    template_id, openid = make_template(), make_user()
    control(emulator, "/popup", openid=openid, results={template_id: "accept"})
    control(emulator, "/main_switch", openid=openid, on=False)
    popup = control(emulator, "/popup", openid=openid, results={template_id: "accept"})
    assert popup["errCode"] == 20004  # no popup, no credit
    assert send(emulator, token, openid, template_id)["errcode"] == 43101
    control(emulator, "/main_switch", openid=openid, on=True)
    assert send(emulator, token, openid, template_id)["errcode"] == 0  # the one credit from before
    assert send(emulator, token, openid, template_id)["errcode"] == 43101
