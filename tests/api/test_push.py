"""WeChat's message push: authenticated, decrypted, exactly once, and the authority for credits."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.models import ConsentEvent, Subscription, User
from tests.api.pushing import AES_KEY, T1, T2, TOKEN, count, credits, popup, post, target
from tests.helpers import API_KEY, GOOD_DATA, assert_error, log_in, reconfigure, send
from wxemu.pusher import event_message, signed_request


class TestUrlVerification:
    def test_echostr_when_signature_holds(self, client, push_app):
        query, _, _ = signed_request(target(push_app), popup("o1", (T1, "accept")))
        response = client.get("/wechat/push", query_string={**query, "echostr": "4375120948345356249"})
        assert response.status_code == 200 and response.get_data(as_text=True) == "4375120948345356249"
        assert response.content_type.startswith("text/plain")

    def test_official_vector(self, client, app, monkeypatch):
        reconfigure(app, WX_TOKEN="AAAAA")
        monkeypatch.setattr("backend.consent.push.time.time", lambda: 1714036504)
        query = {
            "signature": "f464b24fc39322e44b38aa78f5edd27bd1441696",
            "timestamp": "1714036504",
            "nonce": "1514711492",
            "echostr": "4375120948345356249",
        }
        assert client.get("/wechat/push", query_string=query).get_data(as_text=True) == "4375120948345356249"
        assert_error(client.get("/wechat/push", query_string={**query, "nonce": "1"}), 403, "push_refused")

    def test_bad_signature_is_403(self, client, push_app):
        query, _, _ = signed_request(target(push_app, token="other"), popup("o1", (T1, "accept")))
        assert_error(client.get("/wechat/push", query_string={**query, "echostr": "x"}), 403, "push_refused")

    def test_stale_timestamp_is_403(self, client, push_app):
        query, _, _ = signed_request(target(push_app), popup("o1", (T1, "accept")), timestamp=int(time.time()) - 301)
        assert_error(client.get("/wechat/push", query_string={**query, "echostr": "x"}), 403, "push_refused")

    def test_404_without_token(self, client):
        assert_error(client.get("/wechat/push?signature=a&timestamp=1&nonce=1&echostr=x"), 404, "not_found")
        assert_error(client.post("/wechat/push?signature=a&timestamp=1&nonce=1", data="{}"), 404, "not_found")


class TestAuthentication:
    @pytest.mark.parametrize(
        ("fmt", "mode"),
        [("json", "plain"), ("xml", "plain"), ("json", "safe"), ("xml", "safe"), ("json", "compat"), ("xml", "compat")],
    )
    def test_every_mode_and_format_is_accepted(self, client, push_app, templates, fmt, mode):
        reconfigure(push_app, WX_ENCODING_AES_KEY=None if mode == "plain" else AES_KEY)
        response = post(client, push_app, popup("o-user-1", (T1, "accept")), fmt, mode)
        assert response.status_code == 200 and response.get_data(as_text=True) == "success"
        assert credits(push_app, "o-user-1") == 1

    def test_bad_signature_is_403_and_changes_nothing(self, client, push_app):
        response = post(client, push_app, popup("o1", (T1, "accept")), token="forged")
        assert_error(response, 403, "push_refused")
        assert count(push_app, User) == 0 and count(push_app, Subscription) == 0

    def test_bad_msg_signature_is_403(self, client, safe_app):
        response = post(
            client, safe_app, popup("o1", (T1, "accept")), mode="safe", query_overrides={"msg_signature": "0" * 40}
        )
        assert_error(response, 403, "push_refused")
        assert count(safe_app, Subscription) == 0

    def test_ciphertext_for_another_appid_is_403(self, client, safe_app):
        response = post(client, safe_app, popup("o1", (T1, "accept")), mode="safe", appid="wx0000000000000bad")
        assert_error(response, 403, "push_refused")
        assert count(safe_app, Subscription) == 0

    def test_stale_timestamp_is_403(self, client, push_app):
        query, body, content_type = signed_request(
            target(push_app), popup("o1", (T1, "accept")), timestamp=int(time.time()) + 400
        )
        response = client.post("/wechat/push", query_string=query, data=body, content_type=content_type)
        assert_error(response, 403, "push_refused")

    def test_xml_with_an_external_entity_is_refused_unread(self, client, push_app, tmp_path):
        secret = tmp_path / "secret.txt"
        secret.write_text("o-from-the-file")
        xml = (
            f'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file://{secret}">]>'
            "<xml><FromUserName>&xxe;</FromUserName><MsgType>event</MsgType>"
            "<Event>subscribe_msg_popup_event</Event><CreateTime>1</CreateTime></xml>"
        )
        query, _, _ = signed_request(target(push_app), popup("o1"))
        response = client.post("/wechat/push", query_string=query, data=xml, content_type="text/xml")
        assert_error(response, 400, "invalid_request")
        assert count(push_app, User) == 0

    def test_encrypted_push_without_key_is_refused(self, client, app):
        reconfigure(app, WX_TOKEN=TOKEN)
        response = post(client, app, popup("o1", (T1, "accept")), mode="safe")
        assert_error(response, 403, "push_refused")

    def test_official_safe_mode_vector(self, client, app, monkeypatch):
        reconfigure(app, WX_TOKEN="AAAAA", WX_ENCODING_AES_KEY="A" * 43, WX_APPID="wxba5fad812f8e6fb9")
        monkeypatch.setattr("backend.consent.push.time.time", lambda: 1714112445)
        from tests.wechat.test_crypto import SAFE_ENCRYPT

        query = {
            "signature": "6c5c811b55cc85e0e1b54100749188c20beb3f5d",
            "timestamp": "1714112445",
            "nonce": "415670741",
            "openid": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
            "encrypt_type": "aes",
            "msg_signature": "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3",
        }
        body = {"ToUserName": "gh_97417a04a28d", "Encrypt": SAFE_ENCRYPT}
        response = client.post("/wechat/push", query_string=query, json=body)
        assert response.get_data(as_text=True) == "success"
        with app.app_context():
            event = db.session.scalars(sa.select(ConsentEvent)).one()
            assert (event.source, event.result, event.detail["event"]) == ("push", "ignored", "debug_demo")

    def test_refused_pushes_write_nothing(self, client, push_app):
        post(client, push_app, popup("o1", (T1, "accept")), token="forged")
        assert count(push_app, ConsentEvent) == 0 and count(push_app, User) == 0


class TestEvents:
    def test_list_as_array_and_as_object(self, client, push_app, templates):
        post(client, push_app, popup("o-a", (T1, "accept"), (T2, "accept")))
        post(client, push_app, popup("o-a", (T1, "accept"), create_time=1700000001))
        assert credits(push_app, "o-a") == 2 and credits(push_app, "o-a", T2) == 1

    def test_reject_keeps_credits_and_change_event_zeroes_them(self, client, push_app, templates):
        post(client, push_app, popup("o-b", (T1, "accept")))
        post(client, push_app, popup("o-b", (T1, "accept"), create_time=1700000001))
        post(client, push_app, popup("o-b", (T1, "reject"), create_time=1700000002))
        assert credits(push_app, "o-b") == 2
        change = event_message(
            "o-b", "subscribe_msg_change_event", [{"TemplateId": T1, "SubscribeStatusString": "reject"}], 1700000003
        )
        assert post(client, push_app, change, fmt="xml").status_code == 200
        assert credits(push_app, "o-b") == 0

    def test_replays_count_once(self, client, push_app, templates):
        message = popup("o-c", (T1, "accept"))
        for fmt in ("json", "xml", "json", "json", "xml"):
            assert post(client, push_app, message, fmt).get_data(as_text=True) == "success"
        assert credits(push_app, "o-c") == 1

    def test_five_concurrent_copies_count_once(self, push_app, templates):
        message = popup("o-d", (T1, "accept"))
        start = threading.Barrier(5)
        statuses = []

        def deliver():
            with push_app.test_client() as client:
                start.wait()
                statuses.append(post(client, push_app, message).status_code)

        threads = [threading.Thread(target=deliver) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 5
        assert credits(push_app, "o-d") == 1

    def test_client_reports_mint_nothing_while_push_is_on(self, client, push_app, emulator, templates):
        user = log_in(client, emulator)
        for _ in range(3):
            client.post("/api/v1/subscriptions", json={"results": {T1: "accept"}}, headers=user.auth)
        assert credits(push_app, user.openid) == 0
        post(client, push_app, popup(user.openid, (T1, "accept")))
        subs = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
        assert subs == [{**subs[0], "remaining": 1, "status": "accept", "reported": "accept"}]

    def test_push_for_a_new_openid_then_send(self, client, push_app, emulator, templates):
        openid = emulator.control("POST", "/users")["openid"]
        emulator.control("POST", "/popup", openid=openid, results={T1: "accept"})  # WeChat's own count
        post(client, push_app, popup(openid, (T1, "accept")))
        response = send(client, {"openid": openid, "template_id": T1, "data": GOOD_DATA})
        assert response.status_code == 201

    def test_sent_event_marks_the_message_delivered(self, client, push_app, emulator, templates):
        user = log_in(client, emulator)
        emulator.control("POST", "/popup", openid=user.openid, results={T1: "accept"})
        post(client, push_app, popup(user.openid, (T1, "accept")))
        sent = send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}).json
        item = {"TemplateId": T1, "MsgID": sent["wechat_msgid"], "ErrorCode": 0, "ErrorStatus": "success"}
        message = event_message(user.openid, "subscribe_msg_sent_event", [item])
        assert post(client, push_app, message, fmt="xml").status_code == 200
        record = client.get(f"/api/v1/messages/{sent['id']}", headers=API_KEY).json
        assert record["delivery_status"] == "delivered"

    def test_unknown_events_are_acknowledged(self, client, push_app):
        message = {
            "ToUserName": "gh_x",
            "FromUserName": "o1",
            "CreateTime": 1,
            "MsgType": "event",
            "Event": "user_enter_tempsession",
        }
        query, _, _ = signed_request(target(push_app), popup("o1"))
        response = client.post("/wechat/push", query_string=query, json=message)
        assert response.get_data(as_text=True) == "success"


def test_emulator_loop_accept_push_credit_send_sent_event(client, safe_app, emulator, live_backend, templates):
    """The whole loop in dev mode: the emulator plays WeChat, pushing to the live backend."""
    emulator.control(
        "POST",
        "/push",
        url=f"{live_backend}/wechat/push",
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        format="xml",
        mode="safe",
    )
    user = log_in(client, emulator)
    answer = emulator.control("POST", "/popup", openid=user.openid, results={T1: "accept"})
    assert answer["push_status"] == 200
    client.post("/api/v1/subscriptions", json={"results": {T1: "accept"}}, headers=user.auth)
    assert credits(safe_app, user.openid) == 1
    sent = send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA})
    assert sent.status_code == 201 and sent.json["remaining"] == 0
    emulator.control("POST", "/push/flush")
    record = client.get(f"/api/v1/messages/{sent.json['id']}", headers=API_KEY).json
    assert record["delivery_status"] == "delivered"
    emulator.control("POST", "/popup", openid=user.openid, results={T1: "accept"})
    emulator.control("POST", "/settings", openid=user.openid, template_id=T1, status="reject")
    assert credits(safe_app, user.openid) == 0
