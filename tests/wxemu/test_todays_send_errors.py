"""subscribe/send under today's error table (docs/wechat.md §10): 43108, 45168, 43107, 47001."""

from __future__ import annotations

import re
import threading

import pytest
import requests

from tests.wxemu.samples import ORDER_DATA, ORDER_TEMPLATE, RID
from wxemu import EmulatorState, run_in_thread
from wxemu.defaults import DEV_APPID, DEV_SECRET


@pytest.fixture
def user(make_user) -> str:
    return make_user()


@pytest.fixture
def order(make_template) -> str:
    return make_template()


def sent(emulator) -> list[dict]:
    return emulator.get("/_emulator/sent").get_json()


class TestOverlappingSends:
    def test_a_send_while_another_to_the_openid_is_in_flight_is_43108(self, emulator, state, send, user, order, accept):
        accept(user, order)
        state.begin_send(user)  # another send to this openid is being answered
        reply = send(touser=user, template_id=order, data=ORDER_DATA)
        assert reply["errcode"] == 43108
        assert reply["errmsg"].startswith("Cannot make concurrent calls to the same OpenID, please try again rid: ")
        assert sent(emulator) == [] and state.subscriptions[(user, order)].remaining == 1  # nothing sent
        state.end_send(user)
        assert send(touser=user, template_id=order, data=ORDER_DATA)["errcode"] == 0

    def test_other_openids_are_not_held_up(self, state, send, make_user, user, order, accept):
        other = make_user()
        accept(other, order)
        state.begin_send(user)
        assert send(touser=other, template_id=order, data=ORDER_DATA)["errcode"] == 0

    def test_the_turn_ends_with_the_answer_refused_or_not(self, state, send, user, order):
        assert send(touser=user, template_id=order, data=ORDER_DATA)["errcode"] == 43101
        assert state.sends_in_flight == set()

    def test_overlap_under_latency_over_http(self):
        """A send waiting out its latency is in flight: a second one meanwhile gets 43108."""
        state = EmulatorState()
        server = run_in_thread(state=state)
        try:
            base = server.url
            token = requests.post(
                f"{base}/cgi-bin/stable_token",
                timeout=5,
                json={"grant_type": "client_credential", "appid": DEV_APPID, "secret": DEV_SECRET},
            ).json()["access_token"]
            user = requests.post(f"{base}/_emulator/users", json={}, timeout=5).json()["openid"]
            requests.post(f"{base}/_emulator/templates", json=ORDER_TEMPLATE, timeout=5)
            for _ in range(2):
                requests.post(
                    f"{base}/_emulator/popup",
                    json={"openid": user, "results": {ORDER_TEMPLATE["priTmplId"]: "accept"}},
                    timeout=5,
                )
            url = f"{base}/cgi-bin/message/subscribe/send?access_token={token}"
            body = {"touser": user, "template_id": ORDER_TEMPLATE["priTmplId"], "data": ORDER_DATA}
            state.latency_ms = 1000  # the first send is in flight for a second
            first: list[int] = []
            holder = threading.Thread(
                target=lambda: first.append(requests.post(url, json=body, timeout=10).json()["errcode"])
            )
            holder.start()
            arrived = threading.Event()
            for _ in range(500):  # until the first send has arrived (bounded)
                if user in state.sends_in_flight:
                    break
                arrived.wait(0.01)
            second = requests.post(url, json=body, timeout=10).json()
            holder.join(10)
            assert first == [0] and second["errcode"] == 43108
            assert len(state.sent) == 1 and state.sends_in_flight == set()
        finally:
            server.shutdown()


class TestSensitiveWords:
    def test_a_value_holding_a_blacklisted_word_is_45168(self, emulator, send, user, order, accept):
        accept(user, order)
        assert emulator.post("/_emulator/blacklist", json={"words": ["水壶"]}).get_json() == {"words": ["水壶"]}
        reply = send(touser=user, template_id=order, data=ORDER_DATA)  # thing1 is 蓝色水壶
        assert reply["errcode"] == 45168
        assert reply["errmsg"].startswith("keyword in blacklist rid: ")
        assert sent(emulator) == []
        emulator.post("/_emulator/blacklist", json={"words": []})
        assert send(touser=user, template_id=order, data=ORDER_DATA)["errcode"] == 0

    def test_the_list_is_shown_replaced_and_reset(self, emulator):
        emulator.post("/_emulator/blacklist", json={"words": ["b", "a"]})
        assert emulator.get("/_emulator/blacklist").get_json() == {"words": ["a", "b"]}
        emulator.post("/_emulator/reset")
        assert emulator.get("/_emulator/blacklist").get_json() == {"words": []}

    @pytest.mark.parametrize("body", [{}, {"words": "a"}, {"words": [""]}, {"words": [1]}])
    def test_bad_lists_are_400(self, emulator, body):
        assert emulator.post("/_emulator/blacklist", json=body).status_code == 400


class TestBannedTemplates:
    def test_a_banned_template_is_43107_until_unbanned(self, emulator, send, user, order, accept, token):
        accept(user, order)
        assert emulator.post(f"/_emulator/templates/{order}/ban").get_json() == {"priTmplId": order, "banned": True}
        reply = send(touser=user, template_id=order, data=ORDER_DATA)
        assert reply["errcode"] == 43107
        assert sent(emulator) == []
        listed = emulator.get(f"/wxaapi/newtmpl/gettemplate?access_token={token}").get_json()["data"]
        assert order not in [t["priTmplId"] for t in listed]
        emulator.post(f"/_emulator/templates/{order}/unban")
        listed = emulator.get(f"/wxaapi/newtmpl/gettemplate?access_token={token}").get_json()["data"]
        assert order in [t["priTmplId"] for t in listed]
        assert send(touser=user, template_id=order, data=ORDER_DATA)["errcode"] == 0

    def test_unknown_template_is_400(self, emulator):
        assert emulator.post("/_emulator/templates/nope/ban").status_code == 400


class TestDataFormat:
    @pytest.mark.parametrize("raw", ["not json", '{"touser": ', "[1, 2]", '"text"'])
    def test_a_body_that_is_not_a_json_object_is_47001(self, emulator, token, raw):
        url = f"/cgi-bin/message/subscribe/send?access_token={token}"
        reply = emulator.post(url, data=raw, content_type="application/json").get_json()
        assert reply["errcode"] == 47001
        assert re.fullmatch(f"data format error{RID}", reply["errmsg"])
