"""Message push: what is refused, and that refusing (or answering) costs nothing it shouldn't.

Safe mode can't be downgraded to plaintext; a plaintext-mode query authenticates one body;
junk is a 4xx before anything is written; a List has at most 5 items; refusals write no row;
no WeChat call happens while a push is answered.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import sqlalchemy as sa

from backend.consent import push
from backend.consent.push import QUERY_MEMORY, SampledLog
from backend.extensions import db
from backend.models import ConsentEvent, PushQuery, Subscription, Template, User
from backend.templates.catalog import sync_templates
from tests.api.pushing import AES_KEY, T1, TOKEN, count, credits, popup, post, post_raw, signed_query, target
from tests.helpers import LONG_TERM, assert_error
from tests.test_metrics import delta, scrape
from wxemu.defaults import DEV_APPID
from wxemu.pusher import signed_request

ROWS = (User, Subscription, ConsentEvent)


def unsigned() -> dict[str, str]:
    """A current timestamp, and a signature nobody made."""
    return {"timestamp": str(int(time.time())), "nonce": "1", "signature": "0" * 40}


def nothing_written(app) -> bool:
    """No user, subscription or event (a signed plaintext query may still be bound to its body)."""
    return all(count(app, model) == 0 for model in ROWS)


def popup_json(openid: str = "o-junk", template_id: str = T1) -> str:
    return json.dumps(
        {
            "ToUserName": "gh_e0000000e001",
            "FromUserName": openid,
            "CreateTime": str(int(time.time())),
            "MsgType": "event",
            "Event": "subscribe_msg_popup_event",
            "List": {"TemplateId": template_id, "SubscribeStatusString": "accept", "PopupScene": "0"},
        }
    )


def kinds(app, openid: str) -> dict[str, tuple[str, int]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Subscription.template_id, Subscription.kind, Subscription.remaining)
            .join(User, User.id == Subscription.user_id)
            .where(User.openid == openid)
        )
        return {template_id: (kind, remaining) for template_id, kind, remaining in rows}


class TestSafeModeCannotBeDowngraded:
    @pytest.mark.parametrize("fmt", ["json", "xml"])
    def test_a_plaintext_body_with_a_valid_signature_is_refused(self, client, safe_app, templates, fmt):
        response = post(client, safe_app, popup("o-forged", (T1, "accept")), fmt, mode="plain")
        assert_error(response, 403, "push_refused")
        assert nothing_written(safe_app)

    @pytest.mark.parametrize("fmt", ["json", "xml"])
    def test_compatible_mode_applies_the_ciphertext_not_its_plaintext(self, client, safe_app, templates, fmt):
        query, body, content_type = signed_request(target(safe_app, fmt, "compat"), popup("o-cipher", (T1, "accept")))
        # msg_signature covers only Encrypt: the plaintext beside it can be rewritten at will.
        tampered = body.replace("o-cipher", "o-plaintext")
        assert tampered != body
        response = post_raw(client, query, tampered.encode(), content_type)
        assert response.get_data(as_text=True) == "success"
        assert credits(safe_app, "o-cipher") == 1
        with safe_app.app_context():
            assert db.session.scalar(sa.select(User).where(User.openid == "o-plaintext")) is None

    def test_encrypt_without_msg_signature_is_refused(self, client, safe_app):
        query, body, content_type = signed_request(target(safe_app, mode="safe"), popup("o1", (T1, "accept")))
        del query["msg_signature"]
        assert_error(post_raw(client, query, body.encode(), content_type), 403, "push_refused")
        assert nothing_written(safe_app)


class TestPlaintextQueryBindsOneBody:
    def test_the_same_query_and_body_again_is_a_retry_counted_once(self, client, push_app, templates):
        query, body, content_type = signed_request(target(push_app), popup("o-retry", (T1, "accept")))
        for _ in range(3):
            assert post_raw(client, query, body.encode(), content_type).get_data(as_text=True) == "success"
        assert credits(push_app, "o-retry") == 1

    def test_concurrent_retries_of_one_query_count_once(self, push_app, templates):
        query, body, content_type = signed_request(target(push_app), popup("o-race", (T1, "accept")))
        start = threading.Barrier(5)
        statuses = []

        def deliver():
            with push_app.test_client() as client:
                start.wait()
                statuses.append(post_raw(client, query, body.encode(), content_type).status_code)

        threads = [threading.Thread(target=deliver) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 5
        assert credits(push_app, "o-race") == 1

    @pytest.mark.parametrize("fmt", ["json", "xml"])
    def test_the_same_query_with_another_body_is_refused(self, client, push_app, templates, fmt):
        query, body, content_type = signed_request(target(push_app, fmt), popup("o-first", (T1, "accept")))
        assert post_raw(client, query, body.encode(), content_type).status_code == 200
        _, forged, _ = signed_request(target(push_app, fmt), popup("o-mallory", (T1, "accept")))
        assert_error(post_raw(client, query, forged.encode(), content_type), 403, "push_refused")
        with push_app.app_context():
            assert db.session.scalar(sa.select(User).where(User.openid == "o-mallory")) is None
        assert credits(push_app, "o-first") == 1
        assert post_raw(client, query, body.encode(), content_type).status_code == 200  # WeChat's retry still is
        assert credits(push_app, "o-first") == 1

    def test_a_query_whose_body_was_unreadable_authenticates_no_other(self, client, push_app):
        query = signed_query()
        assert_error(post_raw(client, query, b'{"not json'), 400, "invalid_request")
        assert_error(post_raw(client, query, popup_json("o-swapped").encode()), 403, "push_refused")
        assert nothing_written(push_app)

    def test_a_query_is_forgotten_once_its_timestamp_is_refused_anyway(self, client, push_app, monkeypatch):
        post(client, push_app, popup("o1", (T1, "accept")))
        later = time.time() + QUERY_MEMORY + 1
        monkeypatch.setattr("backend.consent.push.time.time", lambda: later)
        query, body, content_type = signed_request(target(push_app), popup("o2", (T1, "accept")), int(later))
        assert post_raw(client, query, body.encode(), content_type).status_code == 200
        assert count(push_app, PushQuery) == 1  # the first one was pruned


class TestJunkIsA4xx:
    """Each of these answered 500 before; each answers 4xx and writes nothing."""

    DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000
    BAD_UTF8 = b'{"FromUserName":"o\xff\xfe"}'

    @pytest.mark.parametrize("body", [BAD_UTF8, DEEP], ids=["invalid_utf8", "nested_5000_deep"])
    def test_unsigned_junk_is_403_unread(self, client, push_app, body):
        assert_error(post_raw(client, unsigned(), body), 403, "push_refused")
        assert nothing_written(push_app) and count(push_app, PushQuery) == 0

    @pytest.mark.parametrize("body", [BAD_UTF8, DEEP], ids=["invalid_utf8", "nested_5000_deep"])
    def test_signed_junk_is_400(self, client, push_app, body):
        assert_error(post_raw(client, signed_query(), body), 400, "invalid_request")
        assert nothing_written(push_app)

    @pytest.mark.parametrize("method", ["GET", "POST"])
    def test_a_400_digit_timestamp_is_403(self, client, push_app, method):
        query = signed_query(timestamp="9" * 400)  # even correctly signed
        response = client.open("/wechat/push", method=method, query_string={**query, "echostr": "x"}, data=b"{}")
        assert_error(response, 403, "push_refused")
        assert nothing_written(push_app) and count(push_app, PushQuery) == 0

    @pytest.mark.parametrize(
        "body",
        [
            popup_json(openid="o\\ud800").replace("\\\\ud800", "\\ud800"),
            popup_json(template_id="t\\udfff").replace("\\\\udfff", "\\udfff"),
            popup_json(openid="o\\u0000").replace("\\\\u0000", "\\u0000"),
            popup_json(openid="o" * 10_000),
            popup_json(template_id="t" * 1000),
        ],
        ids=["surrogate_openid", "surrogate_template", "nul_openid", "openid_10000", "template_1000"],
    )
    def test_a_signed_push_with_a_bad_field_is_400(self, client, push_app, body):
        assert_error(post_raw(client, signed_query(), body.encode()), 400, "invalid_request")
        assert nothing_written(push_app)

    def test_a_bad_field_inside_the_ciphertext_is_400(self, client, safe_app):
        response = post(client, safe_app, popup("o" * 10_000, (T1, "accept")), mode="safe")
        assert_error(response, 400, "invalid_request")
        assert nothing_written(safe_app)

    def test_a_body_over_64_kib_is_400(self, client, push_app):
        body = popup_json()[:-1] + ', "padding": "' + "x" * 70_000 + '"}'
        assert_error(post_raw(client, signed_query(), body.encode()), 400, "invalid_request")
        assert nothing_written(push_app)


class TestListCap:
    @pytest.mark.parametrize("fmt", ["json", "xml"])
    def test_51_items_are_400_and_nothing_is_written(self, client, push_app, fmt):
        results = [(f"tmpl-{n}", "accept") for n in range(51)]
        assert_error(post(client, push_app, popup("o-many", *results), fmt), 400, "invalid_request")
        assert nothing_written(push_app)

    def test_5_items_are_applied_6_refused(self, client, push_app):
        five = [(f"tmpl-{n}", "accept") for n in range(5)]
        assert post(client, push_app, popup("o-five", *five)).status_code == 200
        assert len(kinds(push_app, "o-five")) == 5
        six = [(f"tmpl-{n}", "accept") for n in range(6)]
        assert_error(post(client, push_app, popup("o-six", *six)), 400, "invalid_request")


class TestRefusalsWriteNoRow:
    def test_refusals_are_counted_by_reason(self, client, safe_app):
        before = scrape(client)
        post(client, safe_app, popup("o1", (T1, "accept")), token="forged")
        post(client, safe_app, popup("o1", (T1, "accept")), mode="plain")
        post_raw(client, signed_query(timestamp="9" * 400), b"{}")
        after = scrape(client)
        assert delta(after, before, "wxsub_push_refusals_total", appid=DEV_APPID, reason="signature") == 1
        assert delta(after, before, "wxsub_push_refusals_total", appid=DEV_APPID, reason="plaintext_in_safe_mode") == 1
        assert delta(after, before, "wxsub_push_refusals_total", appid=DEV_APPID, reason="timestamp") == 1
        assert nothing_written(safe_app) and count(safe_app, PushQuery) == 0

    def test_refusals_are_logged_sampled_without_body_or_secret(self, client, push_app, monkeypatch, caplog):
        monkeypatch.setattr(push, "refusal_log", SampledLog(10.0, clock=lambda: 0.0))
        for _ in range(3):
            post(client, push_app, popup("o-secret-marker", (T1, "accept")), token="forged")
        lines = [record for record in caplog.records if record.getMessage() == "push refused"]
        assert len(lines) == 1 and lines[0].reason == "signature"
        assert "o-secret-marker" not in caplog.text and TOKEN not in caplog.text and AES_KEY not in caplog.text

    def test_the_sampler_logs_once_per_reason_per_period(self):
        now = [0.0]
        sampler = SampledLog(10.0, clock=lambda: now[0])
        assert sampler.due("signature") == 0
        assert [sampler.due("signature") for _ in range(3)] == [None] * 3
        assert sampler.due("timestamp") == 0
        now[0] = 10.0
        assert sampler.due("signature") == 3  # the lines dropped since the last one
        assert sampler.due("signature") is None


class TestNoWeChatCallWhileAnswering:
    def test_unknown_templates_are_looked_up_after_the_answer(self, client, push_app, emulator, templates):
        long_term = LONG_TERM["priTmplId"]
        named = [long_term, "tmpl-unknown-1", "tmpl-unknown-2", "tmpl-unknown-3", "tmpl-unknown-4"]
        response = post(client, push_app, popup("o-new", *((template, "accept") for template in named)))
        assert response.get_data(as_text=True) == "success"
        assert emulator.calls("gettemplate") == []  # answered, and WeChat not asked
        assert kinds(push_app, "o-new") == dict.fromkeys(named, ("one_time", 1))

        response.close()  # a server calls this once the answer is sent
        assert len(emulator.calls("gettemplate")) == 1  # one look-up for all five
        assert kinds(push_app, "o-new") == {**dict.fromkeys(named, ("one_time", 1)), long_term: ("long_term", 1)}

        again = post(client, push_app, popup("o-new", *((t, "accept") for t in named), create_time=1700000001))
        assert again.get_data(as_text=True) == "success"
        again.close()
        assert len(emulator.calls("gettemplate")) == 1  # long-term now known, the others remembered as unknown
        assert kinds(push_app, "o-new")[long_term] == ("long_term", 1)

    def test_a_known_template_needs_no_look_up(self, client, push_app, emulator, templates):
        with push_app.app_context():
            sync_templates(push_app.extensions["apps"].only())  # the catalog as `flask wx templates sync` leaves it
            assert db.session.get(Template, (DEV_APPID, LONG_TERM["priTmplId"])).kind == "long_term"
        synced = len(emulator.calls("gettemplate"))
        response = post(client, push_app, popup("o-known", (LONG_TERM["priTmplId"], "accept")))
        response.close()
        assert len(emulator.calls("gettemplate")) == synced
        assert kinds(push_app, "o-known") == {LONG_TERM["priTmplId"]: ("long_term", 0)}
