"""The user's standing settings (wx.getSetting) and the templates to ask for (GET /api/v1/me/prompts).

A reported "always keep: accept" never adds a credit; a main switch reported off refuses sends
without a WeChat call (a held send waits) and empties the prompts. The prompts put templates
with held messages first, then the app's list without a credit; at most 5, one kind only.
"""

from __future__ import annotations

import time

import pytest

from tests.helpers import API_KEY, GOOD_DATA, LONG_TERM, ONE_TIME, accept, assert_error, reconfigure, send

T1 = ONE_TIME["priTmplId"]
LONG = LONG_TERM["priTmplId"]


def settings(client, user, main_switch=True, items=None):
    body = {"mainSwitch": main_switch, "itemSettings": items or {}}
    return client.post("/api/v1/me/subscription-settings", json=body, headers=user.auth)


def prompts(client, user) -> dict:
    response = client.get("/api/v1/me/prompts", headers=user.auth)
    assert response.status_code == 200, response.json
    return response.json


def one_time(emulator, template_id: str) -> None:
    emulator.template(**{**ONE_TIME, "priTmplId": template_id, "title": f"Title {template_id}"})


def test_always_accept_is_stored_and_never_a_credit(client, emulator, templates, user):
    answer = settings(client, user, items={T1: "accept"})
    assert answer.status_code == 200, answer.json
    assert answer.json["main_switch"] is True and answer.json["always"] == {T1: "accept"}
    account = client.get(f"/api/v1/users/{user.id}", headers=API_KEY).json
    assert account["main_switch"] is True
    assert account["always"] == {T1: "accept"}
    assert account["subscriptions"] == []  # no credit, not even a subscription row
    assert_error(send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}), 409, "consent_required")
    # The next report replaces the kept choices: a box unticked is no longer listed.
    assert settings(client, user, items={}).json["always"] == {}
    assert client.get(f"/api/v1/users/{user.id}", headers=API_KEY).json["always"] == {}


def test_a_main_switch_off_refuses_sends_without_a_wechat_call(client, emulator, templates, user):
    accept(client, emulator, user)
    assert settings(client, user, main_switch=False).status_code == 200
    body = {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}
    details = assert_error(send(client, body), 409, "main_switch_off")
    assert details["template_id"] == T1
    assert emulator.calls("subscribe_send") == []
    held = send(client, {**body, "if_no_credit": "wait"})
    assert held.status_code == 202 and held.json["status"] == "awaiting_consent"
    assert prompts(client, user) == {"templates": [], "main_switch": False}
    assert client.get(f"/api/v1/users/{user.id}", headers=API_KEY).json["main_switch"] is False
    # Switched on again: the credit the user had is still there.
    settings(client, user, main_switch=True)
    assert send(client, body).status_code == 201


def test_main_switch_off_answers_in_chinese(client, emulator, templates, user):
    settings(client, user, main_switch=False)
    body = {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}
    response = send(client, body, **{"Accept-Language": "zh-CN"})
    assert response.status_code == 409
    assert "总开关" in response.json["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"itemSettings": {}},  # no mainSwitch
        {"mainSwitch": "yes"},
        {"mainSwitch": True, "itemSettings": {"tmpl-a": "sometimes"}},
        {"mainSwitch": True, "itemSettings": {"bad id!": "accept"}},
    ],
)
def test_bad_settings_are_refused(client, emulator, user, body):
    response = client.post("/api/v1/me/subscription-settings", json=body, headers=user.auth)
    assert_error(response, 400, "invalid_request")


def test_prompts_put_held_templates_first_then_the_apps_list(app, client, emulator, templates, user):
    for template_id in ("tmpl-a", "tmpl-b", "tmpl-c", "tmpl-d", "tmpl-e", "tmpl-f"):
        one_time(emulator, template_id)
    reconfigure(app, WX_PROMPT_TEMPLATES=["tmpl-a", T1, "tmpl-b", "tmpl-c", LONG, "tmpl-d", "tmpl-e", "tmpl-f"])
    accept(client, emulator, user, "tmpl-a")  # a credit left: not asked
    for template_id in ("tmpl-e", "tmpl-c", "tmpl-e"):
        held = send(
            client, {"openid": user.openid, "template_id": template_id, "data": GOOD_DATA, "if_no_credit": "wait"}
        )
        assert held.status_code == 202
    answer = prompts(client, user)
    assert answer["main_switch"] is None  # never reported
    assert answer["templates"] == [
        {"template_id": "tmpl-e", "reason": "waiting", "waiting": 2},
        {"template_id": "tmpl-c", "reason": "waiting", "waiting": 1},
        {"template_id": T1, "reason": "no_credit", "waiting": 0},
        {"template_id": "tmpl-b", "reason": "no_credit", "waiting": 0},
        {"template_id": "tmpl-d", "reason": "no_credit", "waiting": 0},  # LONG skipped: never mixed
    ]


def test_prompts_never_mix_kinds_and_leave_out_always_reject(app, client, emulator, templates, user):
    one_time(emulator, "tmpl-a")
    reconfigure(app, WX_PROMPT_TEMPLATES=[LONG, "tmpl-a", T1])
    settings(client, user, items={T1: "reject"})
    assert [t["template_id"] for t in prompts(client, user)["templates"]] == [LONG]
    # An accepted long-term template has what it needs: the one-time ones come next.
    accept(client, emulator, user, LONG)
    assert [t["template_id"] for t in prompts(client, user)["templates"]] == ["tmpl-a"]


def test_a_batch_to_a_user_whose_main_switch_is_off_calls_no_wechat(app, client, emulator, templates, user):
    accept(client, emulator, user)
    settings(client, user, main_switch=False)
    body = {"template_id": T1, "data": GOOD_DATA, "recipients": [{"openid": user.openid}]}
    created = client.post("/api/v1/batches", json=body, headers=API_KEY)
    assert created.status_code == 202
    batch = f"/api/v1/batches/{created.json['id']}"
    deadline = time.monotonic() + 20
    while client.get(batch, headers=API_KEY).json["status"] != "done":
        assert time.monotonic() < deadline, "the batch did not finish"
        time.sleep(0.05)
    assert client.get(batch, headers=API_KEY).json["counts"] == {"main_switch_off": 1}
    assert emulator.calls("subscribe_send") == []
    subs = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
    assert [s["remaining"] for s in subs if s["template_id"] == T1] == [1]  # kept for when it is on again
