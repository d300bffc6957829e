"""WeChat's user-data push (authorized_user_information_changes), sent by the emulator as WeChat
would, in every mode and format: revoke 8 deletes the phone number, a cancellation erases the
person, each counted once."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.models import ConsentEvent, User
from backend.webhooks import deliver_due
from tests.api.pushing import AES_KEY, TOKEN
from tests.helpers import API_KEY, GOOD_DATA, assert_error, log_in, reconfigure, send
from tests.privacy.people import T1, a_person, traces_left

MODES = [("json", "plain"), ("xml", "plain"), ("json", "safe"), ("xml", "safe"), ("json", "compat"), ("xml", "compat")]


@pytest.fixture
def pushing(private_app, emulator, serve_app):
    def configure(fmt: str, mode: str) -> None:
        reconfigure(private_app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=None if mode == "plain" else AES_KEY)
        url = f"{serve_app(private_app)}/wechat/push"
        emulator.control("POST", "/push", url=url, token=TOKEN, encoding_aes_key=AES_KEY, format=fmt, mode=mode)

    return configure


def user_data_push(emulator, openid: str, event: str, **extra) -> int:
    return emulator.control("POST", "/user-data", openid=openid, event=event, **extra)["push_status"]


def phone_of(app, user_id: int) -> tuple:
    with app.app_context():
        row = db.session.execute(
            sa.select(User.phone_number, User.pure_phone_number, User.phone_hash).where(User.id == user_id)
        ).one()
        return tuple(row)


def recorded(app, result: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).where(ConsentEvent.result == result))


@pytest.mark.parametrize(("fmt", "mode"), MODES)
def test_revoking_the_phone_number_deletes_it(private_app, private, emulator, receiver, templates, pushing, fmt, mode):
    pushing(fmt, mode)
    person = a_person(private, emulator, "a")
    created = int(time.time())
    assert (
        user_data_push(emulator, person.user.openid, "user_authorization_revoke", revoke_info="8", create_time=created)
        == 200
    )
    assert phone_of(private_app, person.user.id) == (None, None, None)
    body = {"phone_number": person.phone, "template_id": T1, "data": GOOD_DATA}
    assert_error(send(private, body), 404, "user_not_found")
    # WeChat's retry: the same push again is counted once, and emits no second webhook.
    assert (
        user_data_push(emulator, person.user.openid, "user_authorization_revoke", revoke_info="8", create_time=created)
        == 200
    )
    assert recorded(private_app, "data_revoked") == 1
    while deliver_due(private_app):
        pass
    revoked = [e["data"] for e in receiver.events() if e["type"] == "user.data_revoked"]
    assert revoked == [{**revoked[0], "user_id": person.user.id, "revoke_info": [8]}]
    # The person is still there otherwise: sends by user_id go on.
    assert private.get(f"/api/v1/users/{person.user.id}", headers=API_KEY).status_code == 200


@pytest.mark.parametrize(("fmt", "mode"), MODES)
def test_a_closed_account_is_erased(private_app, private, emulator, receiver, templates, pushing, fmt, mode):
    pushing(fmt, mode)
    person = a_person(private, emulator, "a")
    created = int(time.time())
    assert user_data_push(emulator, person.user.openid, "user_authorization_cancellation", create_time=created) == 200
    assert_error(private.get(f"/api/v1/users/{person.user.id}", headers=API_KEY), 410, "user_erased")
    assert user_data_push(emulator, person.user.openid, "user_authorization_cancellation", create_time=created) == 200
    assert recorded(private_app, "account_closed") == 1
    while deliver_due(private_app):
        pass
    assert [e["data"]["external_id"] for e in receiver.events() if e["type"] == "user.erased"] == [person.external_id]
    assert traces_left(private_app, person) == []


def test_other_revocations_and_modifications_are_recorded_only(private_app, private, emulator, receiver, pushing):
    pushing("json", "plain")
    user = log_in(private, emulator)
    assert user_data_push(emulator, user.openid, "user_authorization_revoke", revoke_info="6") == 200
    assert user_data_push(emulator, user.openid, "user_info_modified") == 200
    assert recorded(private_app, "data_revoked") == 1 and recorded(private_app, "info_modified") == 1
    assert private.get(f"/api/v1/users/{user.id}", headers=API_KEY).status_code == 200
    while deliver_due(private_app):
        pass
    types = [e["type"] for e in receiver.events()]
    assert types.count("user.data_revoked") == 1 and "user.erased" not in types


def test_the_official_samples_stray_spaces_are_accepted(private_app, private, emulator, templates, pushing):
    pushing("json", "plain")
    person = a_person(private, emulator, "a")
    pushed = user_data_push(
        emulator, person.user.openid, "user_authorization_revoke", revoke_info="8", stray_spaces=True
    )
    assert pushed == 200
    assert phone_of(private_app, person.user.id) == (None, None, None)


def test_an_unknown_openid_is_acknowledged_and_creates_no_user(private_app, private, emulator, pushing):
    pushing("xml", "safe")
    assert user_data_push(emulator, "oUnknownUser0000000000000000", "user_authorization_cancellation") == 200
    assert user_data_push(emulator, "oUnknownUser0000000000000000", "user_authorization_revoke", revoke_info=8) == 200
    with private_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)) == 0


def test_a_late_sent_event_makes_no_user_of_an_erased_openid(private_app, private, emulator, templates):
    from tests.api.pushing import post

    reconfigure(private_app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=None)
    user = log_in(private, emulator)
    assert private.delete(f"/api/v1/users/{user.id}", headers=API_KEY).status_code == 200
    from wxemu.pusher import event_message

    item = {"TemplateId": T1, "MsgID": 12345, "ErrorCode": 0, "ErrorStatus": "success"}
    response = post(private, private_app, event_message(user.openid, "subscribe_msg_sent_event", [item]))
    assert response.status_code == 200 and response.get_data(as_text=True) == "success"
    with private_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).where(User.openid == user.openid)) == 0
