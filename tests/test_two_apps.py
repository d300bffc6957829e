"""Two mini programs in one backend, end to end over HTTP against the emulator (docs/design.md,
"Every row has its app"): the same person is a user in each app, and nothing of one app (its
users, credits, messages, batches, templates, tokens) is reachable through the other.

The fixtures are those of tests/test_apps.py: two apps from a real apps file, each with its own
secret, push keys and business key, and a key for every app.
"""

from __future__ import annotations

import time

import pytest

from tests.api.pushing import popup
from tests.helpers import GOOD_DATA, ONE_TIME, assert_error
from tests.test_admin import ADMIN, PASSWORD
from tests.test_apps import (
    AES_A,
    AES_B,
    ALL_APPS_KEY,
    KEY_A,
    KEY_B,
    T1,
    TOKEN_A,
    TOKEN_B,
    A,
    B,
    client_of,
    log_in,
    push,
    two_apps,  # noqa: F401 - the fixture
)


def send(client, key: str, **body):
    body = {"template_id": T1, "data": GOOD_DATA, **body}
    return client.post("/api/v1/messages", json=body, headers={"X-Api-Key": key})


def grant(client, emulator, appid: str, openid: str, token: str, aes_key: str) -> None:
    """One credit for `openid` in `appid`, as WeChat gives it: the popup at WeChat, then its signed push."""
    emulator.control("POST", "/popup", appid=appid, openid=openid, results={T1: "accept"})
    assert push(client, appid, popup(openid, (T1, "accept")), token, aes_key).status_code == 200


def wait_done(client, batch_id: str, key: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        batch = client.get(f"/api/v1/batches/{batch_id}", headers={"X-Api-Key": key}).json
        if batch["status"] == "done":
            return batch
        time.sleep(0.1)
    raise AssertionError(f"batch not done: {batch}")


@pytest.fixture
def alice(two_apps, emulator):  # noqa: F811 - the fixture imported above
    """The same person logged in to both apps: two users, two openids, one unionid."""
    client = two_apps.test_client()
    return {appid: log_in(client, emulator, appid, unionid="u-alice") for appid in (A, B)}


def test_the_same_person_is_two_users_linked_by_unionid(two_apps, alice):  # noqa: F811
    in_a, in_b = alice[A], alice[B]
    assert in_a["user"]["id"] != in_b["user"]["id"] and in_a["openid"] != in_b["openid"]
    client = two_apps.test_client()
    both = client.get("/api/v1/users", query_string={"unionid": "u-alice"}, headers={"X-Api-Key": ALL_APPS_KEY})
    assert [(u["appid"], u["id"], u["openid"]) for u in both.json["users"]] == [
        (A, in_a["user"]["id"], in_a["openid"]),
        (B, in_b["user"]["id"], in_b["openid"]),
    ]
    only_a = client.get("/api/v1/users", query_string={"unionid": "u-alice"}, headers={"X-Api-Key": KEY_A})
    assert [u["appid"] for u in only_a.json["users"]] == [A]
    # A user id names its app: another app's user is no user here.
    response = client.get(f"/api/v1/users/{in_b['user']['id']}", headers={"X-Api-Key": KEY_A})
    assert_error(response, 404, "user_not_found")
    assert client.get(f"/api/v1/users/{in_b['user']['id']}", headers={"X-Api-Key": KEY_B}).json["appid"] == B


def test_credits_of_one_app_are_spent_in_that_app_only(two_apps, emulator, alice):  # noqa: F811
    client = two_apps.test_client()
    grant(client, emulator, A, alice[A]["openid"], TOKEN_A, AES_A)
    # In B, Alice has no credit: A's can't be spent there.
    response = send(client, ALL_APPS_KEY, appid=B, openid=alice[B]["openid"])
    assert_error(response, 409, "consent_required")
    # A user_id of B named with appid A: no such user in A.
    response = send(client, ALL_APPS_KEY, appid=A, user_id=alice[B]["user"]["id"])
    assert_error(response, 404, "user_not_found")
    # An openid of A sent in B is not A's user either.
    assert_error(send(client, KEY_B, openid=alice[A]["openid"]), 404, "user_not_found")
    sent = send(client, ALL_APPS_KEY, appid=A, user_id=alice[A]["user"]["id"])
    assert sent.status_code == 201, sent.json
    assert sent.json["appid"] == A and sent.json["remaining"] == 0
    [call] = emulator.calls("subscribe_send")
    assert call["touser"] == alice[A]["openid"] and call["errcode"] == 0
    # The message is A's: readable with A's key, 404 with B's, and listed for A only.
    message_id = sent.json["id"]
    assert client.get(f"/api/v1/messages/{message_id}", headers={"X-Api-Key": KEY_A}).json["appid"] == A
    assert_error(client.get(f"/api/v1/messages/{message_id}", headers={"X-Api-Key": KEY_B}), 404, "not_found")
    assert client.get("/api/v1/messages", headers={"X-Api-Key": KEY_B}).json["items"] == []
    listed = client.get("/api/v1/messages", headers={"X-Api-Key": ALL_APPS_KEY}).json["items"]
    assert [(m["id"], m["appid"]) for m in listed] == [(message_id, A)]
    # Each app fetched one token for all its calls (A: gettemplate and the send; B: gettemplate).
    assert client_of(two_apps, A).tokens.fetches == 1 and client_of(two_apps, B).tokens.fetches == 1


def test_keys_act_for_their_apps_only(two_apps, alice):  # noqa: F811
    client = two_apps.test_client()
    assert_error(send(client, KEY_A, appid=B, openid=alice[B]["openid"]), 403, "forbidden")
    details = assert_error(send(client, ALL_APPS_KEY, openid=alice[A]["openid"]), 400, "invalid_request")
    assert "appid" in details


def test_a_batch_of_one_app_does_not_reach_a_user_of_the_other(two_apps, emulator, alice):  # noqa: F811
    client = two_apps.test_client()
    grant(client, emulator, A, alice[A]["openid"], TOKEN_A, AES_A)
    grant(client, emulator, B, alice[B]["openid"], TOKEN_B, AES_B)
    recipients = [{"openid": alice[A]["openid"]}, {"openid": alice[B]["openid"]}, {"user_id": alice[B]["user"]["id"]}]
    body = {"template_id": T1, "data": GOOD_DATA, "recipients": recipients}
    created = client.post("/api/v1/batches", json=body, headers={"X-Api-Key": KEY_A})
    assert created.status_code == 202, created.json
    assert created.json["appid"] == A
    done = wait_done(client, created.json["id"], KEY_A)
    assert done["counts"] == {"sent": 1, "user_not_found": 2}
    # Delivered with A's client to A's openid; B's credit is untouched.
    assert [call["touser"] for call in emulator.calls("subscribe_send")] == [alice[A]["openid"]]
    items = client.get(f"/api/v1/batches/{created.json['id']}/messages", headers={"X-Api-Key": KEY_A}).json["items"]
    assert {item["appid"] for item in items} == {A}
    assert_error(client.get(f"/api/v1/batches/{created.json['id']}", headers={"X-Api-Key": KEY_B}), 404, "not_found")
    account_b = client.get(f"/api/v1/users/{alice[B]['user']['id']}", headers={"X-Api-Key": KEY_B}).json
    assert [(s["template_id"], s["remaining"]) for s in account_b["subscriptions"]] == [(T1, 1)]


def test_a_push_is_applied_in_the_app_of_its_url_only(two_apps, emulator, alice):  # noqa: F811
    client = two_apps.test_client()
    forged = push(client, A, popup(alice[A]["openid"], (T1, "accept")), TOKEN_B, AES_B, key_appid=A)
    assert forged.status_code != 200
    grant(client, emulator, A, alice[A]["openid"], TOKEN_A, AES_A)
    accounts = client.get("/api/v1/users", query_string={"unionid": "u-alice"}, headers={"X-Api-Key": ALL_APPS_KEY})
    credits = {u["appid"]: [s["remaining"] for s in u["subscriptions"]] for u in accounts.json["users"]}
    assert credits == {A: [1], B: []}


def test_wx_apps_counts_templates_and_credits_per_app(two_apps, emulator, alice):  # noqa: F811
    client = two_apps.test_client()
    grant(client, emulator, A, alice[A]["openid"], TOKEN_A, AES_A)
    emulator.template(**{**ONE_TIME, "priTmplId": "tmpl-only-in-b"}, appid=B)
    assert two_apps.test_cli_runner().invoke(args=["wx", "templates", "sync"]).exit_code == 0
    result = two_apps.test_cli_runner().invoke(args=["wx", "apps"])
    assert result.exit_code == 0, result.output
    line_a, line_b = result.output.splitlines()
    assert line_a.endswith("  1 templates  1 credits outstanding")
    assert line_b.endswith("  2 templates  0 credits outstanding")


def test_the_dashboard_filters_by_app(two_apps, emulator, alice):  # noqa: F811
    client = two_apps.test_client()
    grant(client, emulator, A, alice[A]["openid"], TOKEN_A, AES_A)
    grant(client, emulator, B, alice[B]["openid"], TOKEN_B, AES_B)
    assert send(client, KEY_A, openid=alice[A]["openid"]).status_code == 201
    credits = {
        appid: client.get("/admin/api/credits", query_string={"app": appid}, headers=_admin(two_apps)).json["total"]
        for appid in (A, B)
    }
    assert credits == {A: 0, B: 1}
    sends = client.get("/admin/api/sends", query_string={"app": B}, headers=_admin(two_apps)).json
    assert sends["total"] == 0
    assert client.get("/admin/api/sends", headers=_admin(two_apps)).json["total"] == 1


def _admin(app) -> dict:
    app.config["ADMIN_PASSWORD"] = PASSWORD
    return ADMIN


def test_invalidating_one_apps_token_refreshes_that_app_only(two_apps, emulator, alice):  # noqa: F811
    client = two_apps.test_client()
    for appid, token, aes_key in ((A, TOKEN_A, AES_A), (B, TOKEN_B, AES_B)):
        for n in range(2):
            emulator.control("POST", "/popup", appid=appid, openid=alice[appid]["openid"], results={T1: "accept"})
            message = popup(alice[appid]["openid"], (T1, "accept"), create_time=1700000000 + n)
            assert push(client, appid, message, token, aes_key).status_code == 200
    assert send(client, KEY_A, openid=alice[A]["openid"]).status_code == 201
    assert send(client, KEY_B, openid=alice[B]["openid"]).status_code == 201
    emulator.control("POST", "/tokens/invalidate", appid=A)
    assert send(client, KEY_A, openid=alice[A]["openid"]).status_code == 201  # 40001, refreshed, sent
    assert send(client, KEY_B, openid=alice[B]["openid"]).status_code == 201
    assert client_of(two_apps, A).tokens.fetches == 2 and client_of(two_apps, B).tokens.fetches == 1


def test_devices_are_bound_within_one_app(two_apps, alice):  # noqa: F811
    """A key of app A can't bind, unbind or list a user of app B; a device code of A binds nobody in B."""
    client = two_apps.test_client()
    in_a, in_b = alice[A]["user"]["id"], alice[B]["user"]["id"]
    device = "/api/v1/devices/washer-model-1/SN-0001/users"
    assert_error(client.put(f"{device}/{in_b}", headers={"X-Api-Key": KEY_A}), 404, "user_not_found")
    assert_error(client.delete(f"{device}/{in_b}", headers={"X-Api-Key": KEY_A}), 404, "user_not_found")
    bound = client.put(f"{device}/{in_a}", headers={"X-Api-Key": KEY_A})
    assert bound.status_code == 200 and bound.json["appid"] == A
    assert client.put(f"{device}/{in_b}", headers={"X-Api-Key": ALL_APPS_KEY}).json["appid"] == B  # its user's app
    assert [b["user_id"] for b in client.get(device, headers={"X-Api-Key": KEY_B}).json["users"]] == [in_b]
    both = client.get(device, headers={"X-Api-Key": ALL_APPS_KEY}).json["users"]
    assert sorted((b["appid"], b["user_id"]) for b in both) == sorted([(A, in_a), (B, in_b)])

    body = {"model_id": "washer-model-1", "sn": "SN-0002"}
    code = client.post("/api/v1/device-binding-codes", json=body, headers={"X-Api-Key": KEY_A}).json["code"]
    auth_b = {"Authorization": f"Bearer {alice[B]['token']}"}
    assert_error(client.post("/api/v1/me/devices", json={"code": code}, headers=auth_b), 400, "binding_code_invalid")
    refused = client.post("/api/v1/device-binding-codes", json={**body, "appid": B}, headers={"X-Api-Key": KEY_A})
    assert_error(refused, 403, "forbidden")
