"""Recipients as business code knows them: external_id, phone_number, binding codes, user look-ups."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import pytest
import redis
import sqlalchemy as sa
from flask_migrate import upgrade

from backend import create_app
from backend.extensions import db
from backend.models import BindingCode, User
from backend.users import binding
from backend.users.personal import phone_hashes
from tests.conftest import REDIS_URL, app_config
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept, assert_error, at_once, log_in, send
from wxemu.defaults import DEV_APPID

T1 = ONE_TIME["priTmplId"]
NUMBER = "13800138000"


def share_phone(client, emulator, user, number: str = NUMBER, country_code: str = "86") -> None:
    """The user taps the phone button: WeChat's code for the number, redeemed by the backend."""
    code = emulator.control("POST", "/phone_codes", openid=user.openid, phone_number=number, country_code=country_code)
    assert client.post("/api/v1/auth/phone", json={"code": code["code"]}, headers=user.auth).status_code == 200


def bind(client, user_id: int, external_id: str):
    return client.put(f"/api/v1/users/{user_id}/external-id", json={"external_id": external_id}, headers=API_KEY)


def new_code(client, external_id: str = "EMP-00123", **extra) -> dict:
    response = client.post("/api/v1/binding-codes", json={"external_id": external_id, **extra}, headers=API_KEY)
    assert response.status_code == 201, response.json
    return response.json


def redeem(client, user, code: str):
    return client.post("/api/v1/me/binding", json={"code": code}, headers=user.auth)


def send_to(client, **recipient):
    return send(client, {**recipient, "template_id": T1, "data": GOOD_DATA})


def sent_to(emulator) -> list[str]:
    return [call["touser"] for call in emulator.calls("subscribe_send") if call["errcode"] == 0]


# -- single sends ---------------------------------------------------------------------------


def test_send_by_external_id(client, emulator, templates, user):
    accept(client, emulator, user)
    assert bind(client, user.id, "EMP-00123").status_code == 200
    response = send_to(client, external_id="EMP-00123")
    assert response.status_code == 201, response.json
    assert response.json["user_id"] == user.id and response.json["remaining"] == 0
    assert sent_to(emulator) == [user.openid]


@pytest.mark.parametrize("written", ["13800138000", "+86 138 0013 8000", "+8613800138000", "+86-138-0013-8000"])
def test_send_by_phone_number_in_any_spelling(client, emulator, templates, user, written):
    accept(client, emulator, user)
    share_phone(client, emulator, user)
    response = send_to(client, phone_number=written)
    assert response.status_code == 201, response.json
    assert response.json["user_id"] == user.id
    assert sent_to(emulator) == [user.openid]


def test_a_number_abroad_is_found_with_its_country_code(client, emulator, templates, user):
    accept(client, emulator, user)
    share_phone(client, emulator, user, "6502530000", "1")
    assert_error(send_to(client, phone_number="6502530000"), 404, "user_not_found")  # read as Chinese
    assert send_to(client, phone_number="+1 650-253-0000").status_code == 201


def test_a_phone_shared_by_two_users_is_ambiguous(client, emulator, templates, user):
    other = log_in(client, emulator)
    for person in (user, other):
        accept(client, emulator, person)
        share_phone(client, emulator, person)
    details = assert_error(send_to(client, phone_number="+8613800138000"), 409, "ambiguous_recipient")
    assert details == {"user_ids": sorted([user.id, other.id])}
    assert emulator.calls("subscribe_send") == []
    # By user_id the same person is reachable, and their credit was untouched.
    assert send_to(client, user_id=other.id).status_code == 201


@pytest.mark.parametrize(
    "recipient", [{"external_id": "EMP-nobody"}, {"phone_number": "13900000000"}, {"openid": "o-nobody"}]
)
def test_an_unknown_recipient_is_404(client, emulator, templates, user, recipient):
    accept(client, emulator, user)
    share_phone(client, emulator, user)
    bind(client, user.id, "EMP-00123")
    assert_error(send_to(client, **recipient), 404, "user_not_found")
    assert emulator.calls("subscribe_send") == []


def test_an_unbound_external_id_no_longer_reaches_the_user(client, emulator, templates, user):
    accept(client, emulator, user)
    bind(client, user.id, "EMP-00123")
    assert client.delete(f"/api/v1/users/{user.id}/external-id", headers=API_KEY).status_code == 204
    assert_error(send_to(client, external_id="EMP-00123"), 404, "user_not_found")


@pytest.mark.parametrize(
    "recipient",
    [
        {},
        {"openid": "o-1", "user_id": 1},
        {"external_id": "EMP-1", "phone_number": NUMBER},
        {"user_id": 1, "external_id": "EMP-1"},
        {"openid": "o-1", "user_id": 1, "external_id": "EMP-1", "phone_number": NUMBER},
    ],
)
def test_a_send_names_exactly_one_recipient(client, templates, recipient):
    details = assert_error(send_to(client, **recipient), 400, "invalid_request")
    assert "exactly one" in details["recipient"]


@pytest.mark.parametrize(
    ("recipient", "field"),
    [
        ({"phone_number": "12"}, "phone_number"),
        ({"phone_number": "call me"}, "phone_number"),
        ({"phone_number": 13800138000}, "phone_number"),
        ({"phone_number": "1" * 40}, "phone_number"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x" * 129}, "external_id"),
        ({"external_id": "EMP\n1"}, "external_id"),
        ({"external_id": 123}, "external_id"),
    ],
)
def test_a_bad_recipient_value_is_400_naming_it(client, templates, recipient, field):
    details = assert_error(send_to(client, **recipient), 400, "invalid_request")
    assert field in details


# -- batches ----------------------------------------------------------------------------------


def wait_done(client, batch_id: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while client.get(f"/api/v1/batches/{batch_id}", headers=API_KEY).json["status"] != "done":
        assert time.monotonic() < deadline, "the batch did not finish"
        time.sleep(0.05)


def test_a_batch_by_external_id_and_phone_number(client, emulator, templates, user):
    bound, phoned, twin_a, twin_b = user, *(log_in(client, emulator) for _ in range(3))
    for person in (bound, phoned, twin_a, twin_b):
        accept(client, emulator, person)
    bind(client, bound.id, "EMP-1")
    share_phone(client, emulator, phoned, "13911112222")
    share_phone(client, emulator, twin_a)
    share_phone(client, emulator, twin_b)
    recipients = [
        {"external_id": "EMP-1"},
        {"phone_number": "+86 139 1111 2222"},
        {"phone_number": NUMBER},  # twin_a and twin_b
        {"external_id": "EMP-unbound"},
        {"openid": twin_a.openid},
    ]
    body = {"template_id": T1, "data": GOOD_DATA, "recipients": recipients}
    created = client.post("/api/v1/batches", json=body, headers=API_KEY)
    assert created.status_code == 202, created.json
    wait_done(client, created.json["id"])
    items = client.get(f"/api/v1/batches/{created.json['id']}/messages", headers=API_KEY).json["items"]
    assert [(item["user_id"], item["outcome"]) for item in items] == [
        (bound.id, "sent"),
        (phoned.id, "sent"),
        (None, "ambiguous_recipient"),
        (None, "user_not_found"),
        (twin_a.id, "sent"),
    ]
    counts = client.get(f"/api/v1/batches/{created.json['id']}", headers=API_KEY).json["counts"]
    assert counts == {"sent": 3, "ambiguous_recipient": 1, "user_not_found": 1}
    assert sorted(sent_to(emulator)) == sorted([bound.openid, phoned.openid, twin_a.openid])


def test_a_batch_finds_its_recipients_with_one_query_per_kind(app, client, emulator, templates):
    with app.app_context():
        db.session.execute(
            sa.insert(User),
            [
                {
                    "app_id": DEV_APPID,
                    "openid": f"o-{n}",
                    "external_id": f"EMP-{n}",
                    "phone_hash": phone_hashes(f"+86139000000{n:02d}")[0],
                    "token_version": 0,
                }
                for n in range(40)
            ],
        )
        db.session.commit()
    recipients = [{"external_id": f"EMP-{n}"} for n in range(20)]
    recipients += [{"phone_number": f"139000000{n:02d}"} for n in range(20, 40)]
    statements: list[str] = []
    request_thread = threading.get_ident()  # the test client runs the request here; deliveries don't

    def record(conn, cursor, statement, *args) -> None:
        if threading.get_ident() == request_thread:
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        body = {"template_id": T1, "data": GOOD_DATA, "recipients": recipients}
        created = client.post("/api/v1/batches", json=body, headers=API_KEY)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert created.status_code == 202
    wait_done(client, created.json["id"])  # nobody has a credit: all consent_required, no WeChat call
    lookups = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "FROM users" in s]
    assert len(lookups) == 2, lookups  # one for the external_ids, one for the phone numbers


@pytest.mark.parametrize(
    "recipient", [{}, {"external_id": "EMP-1", "phone_number": NUMBER}, {"phone_number": "12"}, {"external_id": ""}]
)
def test_bad_batch_recipients_are_400(client, templates, recipient):
    body = {"template_id": T1, "data": GOOD_DATA, "recipients": [{"openid": "o-1"}, recipient]}
    details = assert_error(client.post("/api/v1/batches", json=body, headers=API_KEY), 400, "invalid_request")
    assert set(details["recipients"]) == {"1"}


# -- binding an external_id directly ----------------------------------------------------------


def test_bind_rebind_and_taken(client, emulator, user):
    other = log_in(client, emulator)
    response = bind(client, user.id, "EMP-00123")
    assert response.status_code == 200 and response.json["external_id"] == "EMP-00123"
    assert bind(client, user.id, "EMP-00123").status_code == 200  # again: nothing changes
    details = assert_error(bind(client, other.id, "EMP-00123"), 409, "external_id_taken")
    assert details == {"user_id": user.id}
    assert bind(client, user.id, "EMP-00456").json["external_id"] == "EMP-00456"  # the user's id changes
    assert bind(client, other.id, "EMP-00123").status_code == 200  # released by the change
    assert client.get("/api/v1/me", headers=other.auth).json["external_id"] == "EMP-00123"


@pytest.mark.parametrize("user_id", [99999, 2**40])
def test_binding_an_unknown_user_is_404(client, user_id):
    assert_error(bind(client, user_id, "EMP-1"), 404, "user_not_found")
    assert_error(client.delete(f"/api/v1/users/{user_id}/external-id", headers=API_KEY), 404, "user_not_found")


@pytest.mark.parametrize("body", [{}, {"external_id": ""}, {"external_id": None}, {"external_id": "x", "more": 1}])
def test_a_bad_binding_body_is_400(client, user, body):
    response = client.put(f"/api/v1/users/{user.id}/external-id", json=body, headers=API_KEY)
    assert_error(response, 400, "invalid_request")


def test_user_endpoints_need_the_api_key(client, user):
    assert_error(client.get(f"/api/v1/users/{user.id}"), 401, "unauthorized")
    assert_error(client.get("/api/v1/users?openid=x", headers=user.auth), 401, "unauthorized")
    assert_error(client.put(f"/api/v1/users/{user.id}/external-id", json={"external_id": "E"}), 401, "unauthorized")
    assert_error(
        client.post("/api/v1/binding-codes", json={"external_id": "E"}, headers=user.auth), 401, "unauthorized"
    )


# -- binding codes ----------------------------------------------------------------------------


def test_a_code_binds_once(app, client, emulator, user):
    before = datetime.now().astimezone()
    issued = new_code(client)
    assert len(issued["code"]) == 12
    expires_at = datetime.fromisoformat(issued["expires_at"])
    assert timedelta(seconds=599) <= expires_at - before <= timedelta(seconds=660)
    response = redeem(client, user, issued["code"])
    assert response.status_code == 200, response.json
    assert response.json["external_id"] == "EMP-00123" and response.json["id"] == user.id
    assert_error(redeem(client, user, issued["code"]), 400, "binding_code_invalid")
    assert_error(redeem(client, log_in(client, emulator), issued["code"]), 400, "binding_code_invalid")
    with app.app_context():  # only the hash is kept
        stored = db.session.scalars(sa.select(BindingCode)).one()
        assert issued["code"] not in (stored.code_hash, stored.external_id)
        assert stored.redeemed_by == user.id


def test_a_code_may_be_typed_loosely(client, user):
    code = new_code(client)["code"]
    typed = f" {code[:4].lower()}-{code[4:8]} {code[8:]} ".replace("0", "o").replace("1", "l")
    assert redeem(client, user, typed).json["external_id"] == "EMP-00123"


def test_an_expired_code_is_invalid(client, user, monkeypatch):
    code = new_code(client, expires_in=60)["code"]
    later = datetime.now().astimezone() + timedelta(seconds=61)
    monkeypatch.setattr(binding, "utcnow", lambda: later)
    assert_error(redeem(client, user, code), 400, "binding_code_invalid")
    assert client.get("/api/v1/me", headers=user.auth).json["external_id"] is None


def test_codes_expired_a_month_ago_are_pruned(app, client, monkeypatch):
    new_code(client, "EMP-old")
    later = datetime.now().astimezone() + timedelta(days=31)
    monkeypatch.setattr(binding, "utcnow", lambda: later)
    new_code(client, "EMP-new")
    with app.app_context():
        assert db.session.scalars(sa.select(BindingCode.external_id)).all() == ["EMP-new"]


def test_a_code_moves_the_external_id_from_a_previous_account(client, emulator, user, templates):
    old_account = log_in(client, emulator)
    bind(client, old_account.id, "EMP-00123")
    assert redeem(client, user, new_code(client)["code"]).status_code == 200
    assert client.get(f"/api/v1/users/{old_account.id}", headers=API_KEY).json["external_id"] is None
    accept(client, emulator, user)
    assert send_to(client, external_id="EMP-00123").json["user_id"] == user.id


def test_guessing_codes_is_rate_limited_per_user(client, emulator, user):
    code = new_code(client)["code"]
    for guess in ("AAAAAAAAAAAA", "BBBBBBBBBBBB", "nonsense", "CCCCCCCCCCCC", "DDDDDDDDDDDD"):
        assert_error(redeem(client, user, guess), 400, "binding_code_invalid")
    response = redeem(client, user, code)  # held: even the right code
    details = assert_error(response, 429, "rate_limited")
    assert 1 <= details["retry_after"] <= 61 and response.headers["Retry-After"] == str(details["retry_after"])
    assert client.get("/api/v1/me", headers=user.auth).json["external_id"] is None
    assert redeem(client, log_in(client, emulator), code).status_code == 200  # another user is not held


@pytest.mark.parametrize(
    "body",
    [
        {"external_id": "E", "expires_in": 59},
        {"external_id": "E", "expires_in": 7 * 86400 + 1},
        {"external_id": "E", "expires_in": "600"},
        {"external_id": ""},
        {},
    ],
)
def test_a_bad_code_request_is_400(client, body):
    assert_error(client.post("/api/v1/binding-codes", json=body, headers=API_KEY), 400, "invalid_request")


def test_a_code_for_an_app_not_served_here_is_404(client):
    body = {"external_id": "E", "appid": "wx-some-other-app"}
    assert_error(client.post("/api/v1/binding-codes", json=body, headers=API_KEY), 404, "app_not_found")


@pytest.mark.parametrize("body", [{}, {"code": ""}, {"code": 7}, {"code": "x" * 65}])
def test_a_bad_redeem_body_is_400(client, user, body):
    assert_error(client.post("/api/v1/me/binding", json=body, headers=user.auth), 400, "invalid_request")


def test_redeeming_needs_a_session(client):
    code = new_code(client)["code"]
    assert_error(client.post("/api/v1/me/binding", json={"code": code}), 401, "unauthorized")
    assert_error(client.post("/api/v1/me/binding", json={"code": code}, headers=API_KEY), 401, "unauthorized")


# -- look-ups -----------------------------------------------------------------------------------


def test_a_user_with_credits_per_template(app, client, emulator, templates, user):
    accept(client, emulator, user, times=2)
    share_phone(client, emulator, user)
    bind(client, user.id, "EMP-00123")
    response = client.get(f"/api/v1/users/{user.id}", headers=API_KEY)
    assert response.status_code == 200
    body = response.json
    assert body["id"] == user.id and body["openid"] == user.openid
    assert body["appid"] == app.config["WX_APPID"]
    assert body["external_id"] == "EMP-00123" and body["has_phone"] is True
    assert [(s["template_id"], s["status"], s["remaining"]) for s in body["subscriptions"]] == [(T1, "accept", 2)]
    assert NUMBER[-8:] not in response.get_data(as_text=True)  # the number itself stays with the user (any form)


@pytest.mark.parametrize("user_id", ["99999", str(2**40)])
def test_an_unknown_user_is_404(client, user_id):
    assert_error(client.get(f"/api/v1/users/{user_id}", headers=API_KEY), 404, "user_not_found")


def test_users_by_each_filter(client, emulator):
    first = log_in(client, emulator, unionid="union-1")
    second = log_in(client, emulator)
    for person in (first, second):
        share_phone(client, emulator, person)
    bind(client, second.id, "EMP-2")

    def ids(**query) -> list[int]:
        response = client.get("/api/v1/users", query_string=query, headers=API_KEY)
        assert response.status_code == 200, response.json
        return [account["id"] for account in response.json["users"]]

    assert ids(openid=first.openid) == [first.id]
    assert ids(unionid="union-1") == [first.id]
    assert ids(external_id="EMP-2") == [second.id]
    assert ids(phone_number="+86 138 0013 8000") == sorted([first.id, second.id])
    assert ids(phone_number="13900000000") == [] and ids(external_id="EMP-none") == []


@pytest.mark.parametrize(
    "query", [{}, {"openid": "o-1", "external_id": "E"}, {"phone_number": "12"}, {"user": "1"}, {"openid": ""}]
)
def test_users_need_exactly_one_good_filter(client, query):
    assert_error(client.get("/api/v1/users", query_string=query, headers=API_KEY), 400, "invalid_request")


# -- PostgreSQL + Redis ----------------------------------------------------------------------


def guessing_app(database_url, emulator, redis_url: str | None, **overrides):
    if redis_url:
        redis.Redis.from_url(redis_url).flushdb()
    app = create_app(app_config(database_url, emulator.url, REDIS_URL=redis_url, RATE_LIMIT_LOGIN=0, **overrides))
    with app.app_context():
        db.create_all()
    return app


WITH_AND_WITHOUT_REDIS = [
    pytest.param(None, id="in-process"),
    pytest.param(REDIS_URL, id="redis", marks=pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set")),
]


@pytest.mark.parametrize("redis_url", WITH_AND_WITHOUT_REDIS)
def test_32_concurrent_guesses_of_one_user_check_exactly_the_limit(database_url, emulator, redis_url):
    """Each guess is counted before it is checked: no two guesses pass on one look at the count."""
    app = guessing_app(database_url, emulator, redis_url)
    user = log_in(app.test_client(), emulator)
    statuses = at_once(32, lambda n: redeem(app.test_client(), user, f"{n:012d}").status_code)
    with app.app_context():
        db.engine.dispose()
    assert sorted(statuses) == [400] * binding.MAX_FAILURES + [429] * (32 - binding.MAX_FAILURES)


@pytest.mark.parametrize("redis_url", WITH_AND_WITHOUT_REDIS)
def test_guesses_spread_over_users_are_limited_per_client_ip(database_url, emulator, redis_url):
    app = guessing_app(database_url, emulator, redis_url)
    users = [log_in(app.test_client(), emulator) for _ in range(32)]  # one guess each, all from one IP
    for n in range(3):  # a right code is given back: it counts against neither the user nor the IP
        assert redeem(app.test_client(), users[n], new_code(app.test_client(), f"EMP-{n}")["code"]).status_code == 200
    statuses = at_once(32, lambda n: redeem(app.test_client(), users[n], "AAAAAAAAAAAA").status_code)
    code = new_code(app.test_client())["code"]
    other_ip = app.test_client().post(
        "/api/v1/me/binding", json={"code": code}, headers=users[0].auth, environ_base={"REMOTE_ADDR": "198.51.100.7"}
    )
    with app.app_context():
        db.engine.dispose()
    assert sorted(statuses) == [400] * binding.MAX_IP_FAILURES + [429] * (32 - binding.MAX_IP_FAILURES)
    assert other_ip.status_code == 200  # another IP, and the user's own count was 1


@pytest.mark.redis
def test_guesses_are_counted_across_processes_in_redis(database_url, emulator):
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    redis.Redis.from_url(REDIS_URL).flushdb()
    apps = [create_app(app_config(database_url, emulator.url, REDIS_URL=REDIS_URL)) for _ in range(2)]
    with apps[0].app_context():
        db.create_all()
    clients = [app.test_client() for app in apps]
    user = log_in(clients[0], emulator)
    statuses = [redeem(clients[n % 2], user, "AAAAAAAAAAAA").status_code for n in range(6)]
    for app in apps:
        with app.app_context():
            db.engine.dispose()
    assert statuses == [400] * 5 + [429]


def test_while_redis_is_down_guesses_are_still_limited(database_url, emulator, unused_port):
    app = create_app(app_config(database_url, emulator.url, REDIS_URL=f"redis://127.0.0.1:{unused_port}/0"))
    with app.app_context():
        db.create_all()
    client = app.test_client()
    user = log_in(client, emulator)
    statuses = [redeem(client, user, "AAAAAAAAAAAA").status_code for _ in range(6)]
    with app.app_context():
        db.engine.dispose()
    assert statuses == [400] * 5 + [429]


def test_the_migration_fills_phone_e164_from_the_stored_numbers(database_url, emulator):
    app = create_app(app_config(database_url, emulator.url))
    stored = [
        ("o-cn", "13800138000", "86", "+8613800138000"),
        ("o-us", "+1 6502530000", "1", "+16502530000"),
        ("o-odd", "12", "86", None),  # not a phone number: left without
        ("o-none", None, None, None),
    ]
    with app.app_context():
        upgrade(revision="5d2c8e1f0a9b")  # the schema before phone_e164
        with db.engine.begin() as conn:
            for openid, number, country, _ in stored:
                conn.execute(
                    sa.text(
                        "INSERT INTO users (openid, phone_number, country_code, token_version, created_at, updated_at)"
                        " VALUES (:openid, :number, :country, 0, :now, :now)"
                    ),
                    {"openid": openid, "number": number, "country": country, "now": datetime.now().astimezone()},
                )
        upgrade(
            revision="7b3e9d4c2a61"
        )  # the revision that added phone_e164 (sealed since: tests/test_data_at_rest.py)
        with db.engine.connect() as conn:
            found = dict(conn.execute(sa.text("SELECT openid, phone_e164 FROM users")).all())
        db.engine.dispose()
    assert found == {openid: e164 for openid, _, _, e164 in stored}
