"""`POST /api/v1/devices/sn-ticket` through HTTP against the emulator (docs/wechat.md §11a)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from backend import create_app
from backend.consent import sn_tickets
from backend.extensions import db
from tests.conftest import REDIS_URL, app_config
from tests.helpers import LAUNDRY_DONE, WASHER_DEVICE, WASHER_MODEL, assert_error, log_in, reconfigure
from wxemu.defaults import DEV_APPID

SN = "SN-0001"


@pytest.fixture
def device(emulator) -> None:
    emulator.control("POST", "/devices", **WASHER_DEVICE)


def ask(client, user, model_id: str = WASHER_MODEL, sn: str = SN, **headers):
    return client.post(
        "/api/v1/devices/sn-ticket", json={"model_id": model_id, "sn": sn}, headers={**user.auth, **headers}
    )


def tickets_fetched(emulator) -> int:
    """Tickets WeChat issued (a call refused for a stale access token and retried counts once)."""
    return len([call for call in emulator.calls("getsnticket") if call["errcode"] == 0])


def test_a_ticket_the_phone_accepts_for_that_device(client, emulator, device, user):
    response = ask(client, user)
    assert response.status_code == 200, response.json
    assert set(response.json) == {"sn_ticket", "expires_in"}
    assert 0 < response.json["expires_in"] <= 300
    body = {"openid": user.openid, "model_id": WASHER_MODEL, "sn": SN, "sn_ticket": response.json["sn_ticket"]}
    answer = emulator.control("POST", "/device_popup", **body, results={LAUNDRY_DONE: "accept"})
    assert answer["result"] == {"errMsg": "requestSubscribeDeviceMessage:ok", LAUNDRY_DONE: "accept"}
    # For another device the same ticket is refused, as the phone would (19720726).
    other = emulator.control("POST", "/device_popup", **{**body, "sn": "SN-0002"}, results={LAUNDRY_DONE: "accept"})
    assert other["result"]["errCode"] == 19720726


def test_the_ticket_is_reused_per_device_while_valid(client, emulator, device, user):
    first = ask(client, user).json["sn_ticket"]
    assert ask(client, user).json["sn_ticket"] == first
    assert ask(client, log_in(client, emulator)).json["sn_ticket"] == first  # any user of that device
    assert tickets_fetched(emulator) == 1
    assert ask(client, user, sn="SN-0002").json["sn_ticket"] != first
    assert tickets_fetched(emulator) == 2


def test_a_ticket_near_its_end_is_not_handed_out_again(client, emulator, device, user, monkeypatch):
    first = ask(client, user).json["sn_ticket"]
    monkeypatch.setattr(sn_tickets, "REUSE_MIN_LEFT", sn_tickets.SN_TICKET_TTL + 1)  # every ticket now "near its end"
    second = ask(client, user).json["sn_ticket"]
    assert second != first and tickets_fetched(emulator) == 2


def test_an_unknown_model_id_9800003_is_422_naming_it_and_not_cached(client, emulator, device, user):
    response = ask(client, user, model_id="no-such-model")
    details = assert_error(response, 422, "invalid_request")
    assert details == {"model_id": "refused by WeChat", "errcode": 9800003}
    assert "model_id" in response.json["error"]["message"]
    ask(client, user, model_id="no-such-model")
    assert [call["errcode"] for call in emulator.calls("getsnticket")] == [9800003, 9800003]


@pytest.mark.parametrize("sn", ["SN 0001", "SN/0001", "设备一", "x" * 129])
def test_an_sn_wechat_would_refuse_is_422_without_a_wechat_call(client, emulator, device, user, sn):
    details = assert_error(ask(client, user, sn=sn), 422, "invalid_request")
    assert set(details) == {"sn"}
    assert emulator.calls("getsnticket") == []


@pytest.mark.parametrize("errcode", [9800001, 9800002])
def test_wechat_refusing_the_sn_is_422_naming_it(client, emulator, device, user, errcode):
    emulator.fault(api="getsnticket", errcode=errcode, times=1)
    assert assert_error(ask(client, user), 422, "invalid_request") == {"sn": "refused by WeChat", "errcode": errcode}


def test_the_message_follows_accept_language(client, emulator, device, user):
    response = ask(client, user, model_id="no-such-model", **{"Accept-Language": "zh-CN"})
    assert response.json["error"]["message"] == "微信不接受该设备的 model_id。"


@pytest.mark.parametrize(
    "body",
    [{"sn": SN}, {"model_id": WASHER_MODEL}, {"model_id": WASHER_MODEL, "sn": ""}, {"model_id": 1, "sn": SN}],
)
def test_a_malformed_body_is_400(client, emulator, user, body):
    response = client.post("/api/v1/devices/sn-ticket", json=body, headers=user.auth)
    assert_error(response, 400, "invalid_request")
    assert emulator.calls("getsnticket") == []


def test_a_session_token_is_required(client, emulator, device):
    response = client.post("/api/v1/devices/sn-ticket", json={"model_id": WASHER_MODEL, "sn": SN})
    assert_error(response, 401, "unauthorized")


def test_wechat_down_is_503_and_nothing_cached(client, emulator, device, user):
    emulator.fault(api="getsnticket", errcode=-1, times=3)  # every retry of one request
    assert_error(ask(client, user), 503, "wechat_unavailable")
    assert ask(client, user).status_code == 200


def test_the_device_ability_not_enabled_48001_is_503_with_the_errcode(client, emulator, device, user):
    emulator.fault(api="getsnticket", errcode=48001, times=1)
    assert assert_error(ask(client, user), 503, "wechat_unavailable") == {"errcode": 48001}


# --- shared through Redis -------------------------------------------------------------


@pytest.fixture
def redis_apps(database_url, emulator):
    """Two apps (as two processes) on one database and one Redis, without tickets from earlier runs."""
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    link = redis.Redis.from_url(REDIS_URL)
    for name in link.scan_iter("wxsub:sn-ticket:*"):
        link.delete(name)
    apps = [create_app(app_config(database_url, emulator.url, REDIS_URL=REDIS_URL)) for _ in range(2)]
    with apps[0].app_context():
        db.create_all()
    yield apps
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    link.close()


@pytest.mark.redis
def test_processes_share_one_ticket_through_redis(redis_apps, emulator, device):
    answers = []
    for app in redis_apps:
        client = app.test_client()
        answers.append(ask(client, log_in(client, emulator)).json)
    assert answers[0]["sn_ticket"] == answers[1]["sn_ticket"]
    assert 0 < answers[1]["expires_in"] <= answers[0]["expires_in"]
    assert tickets_fetched(emulator) == 1


@pytest.mark.redis
def test_redis_down_falls_back_to_the_database(database_url, emulator, device, unused_port):
    app = create_app(app_config(database_url, emulator.url, REDIS_URL=f"redis://127.0.0.1:{unused_port}/0"))
    with app.app_context():
        db.create_all()
    client = app.test_client()
    user = log_in(client, emulator)
    first = ask(client, user)
    assert first.status_code == 200
    assert ask(client, user).json["sn_ticket"] == first.json["sn_ticket"]
    assert tickets_fetched(emulator) == 1
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# --- one ticket per device for every process, fetched by one caller at a time ---------------


@pytest.fixture
def slow_wechat(emulator):
    emulator.control("POST", "/latency", ms=300)  # the first calls overlap, as a family's phones at once


@pytest.mark.parametrize("shared", ["database", pytest.param("redis", marks=pytest.mark.redis)])
def test_concurrent_first_calls_make_one_getsnticket(app, emulator, device, slow_wechat, shared):
    if shared == "redis":
        if not REDIS_URL:
            pytest.skip("TEST_REDIS_URL is not set")
        redis.Redis.from_url(REDIS_URL).flushdb()
        reconfigure(app, REDIS_URL=REDIS_URL)
    users = [log_in(app.test_client(), emulator) for _ in range(6)]
    barrier = threading.Barrier(len(users))

    def first_call(user) -> str:
        client = app.test_client()
        barrier.wait()
        response = ask(client, user)
        assert response.status_code == 200, response.json
        return response.json["sn_ticket"]

    with ThreadPoolExecutor(len(users)) as pool:
        tickets = list(pool.map(first_call, users))
    assert len(set(tickets)) == 1
    assert len(emulator.calls("getsnticket")) == 1


def test_another_process_fetching_is_waited_for_not_repeated(app, client, emulator, device, user):
    """Another process holds the device's lease (it is calling getsnticket): this one waits for the
    ticket it stores instead of calling WeChat too."""
    store, key = sn_tickets.DatabaseTickets(), (DEV_APPID, WASHER_MODEL, SN)
    with app.app_context():
        assert store.try_lease(key, "another-process", time.time())
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(ask, client, user)
        time.sleep(0.5)
        assert not waiting.done()
        with app.app_context():
            store.save(key, "another-process", "TICKET-OF-THE-OTHER", time.time() + 300)
        response = waiting.result(timeout=10)
    assert response.json["sn_ticket"] == "TICKET-OF-THE-OTHER"
    assert emulator.calls("getsnticket") == []
