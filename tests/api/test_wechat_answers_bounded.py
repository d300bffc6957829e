"""A string from WeChat longer than its column never becomes a lasting 500 (#23 N4).

Each stored WeChat field is fed through the emulator at its column's limit and beyond: at the
limit it is stored as is; beyond, a display text (a template's title) is cut to fit, an id
that can't be cut (openid, unionid, priTmplId, a phone number) is refused as WeChat's fault
(502 `wechat_unavailable` naming the field, logged without the value), and later calls work.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.models import Template, User
from tests.helpers import GOOD_DATA, LONG_TERM, ONE_TIME, accept, assert_error, log_in, send

T1 = ONE_TIME["priTmplId"]


def login(client, emulator, **person):
    issued = emulator.login_code(**person)
    return client.post("/api/v1/auth/login", json={"code": issued["code"]})


@pytest.mark.parametrize("length", [128, 200])
def test_a_template_title_beyond_its_column_is_cut_and_look_ups_keep_working(client, app, emulator, length):
    emulator.template(**{**ONE_TIME, "title": "标" * length})
    emulator.template(**LONG_TERM)
    user = log_in(client, emulator)
    for _ in range(2):  # the look-up (gettemplate) stores the listing; the second send reads it
        accept(client, emulator, user)
        response = send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA})
        assert response.status_code == 201, response.json
    with app.app_context():
        titles = dict(db.session.execute(sa.select(Template.id, Template.title)).all())
    assert len(titles[T1]) == 128 and titles[T1].startswith("标" * 127)
    assert titles[LONG_TERM["priTmplId"]] == LONG_TERM["title"]  # the rest of the listing stored


def test_a_template_id_beyond_its_column_is_left_out_of_the_catalog(client, app, emulator, caplog):
    long_id = "t" * 65
    emulator.template(**{**LONG_TERM, "priTmplId": long_id})
    emulator.template(**ONE_TIME)
    user = log_in(client, emulator)
    accept(client, emulator, user)
    response = send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA})
    assert response.status_code == 201, response.json
    with app.app_context():
        assert db.session.scalars(sa.select(Template.id)).all() == [T1]
    assert any(getattr(record, "field", None) == "priTmplId" for record in caplog.records)


@pytest.mark.parametrize("field", ["openid", "unionid"])
def test_an_id_at_its_limit_logs_in_and_beyond_is_wechats_fault(client, app, emulator, field, caplog):
    at_limit = login(client, emulator, **{field: "a" * 64})
    assert at_limit.status_code == 200, at_limit.json
    beyond = "b" * 100
    details = assert_error(login(client, emulator, **{field: beyond}), 502, "wechat_unavailable")
    assert details["field"] == field
    assert beyond not in caplog.text  # logged by name and length, never the value
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    assert login(client, emulator).status_code == 200  # later log-ins work


def test_a_phone_number_beyond_its_column_is_wechats_fault(client, app, emulator):
    user = log_in(client, emulator)
    headers = {"Authorization": f"Bearer {user.token}"}

    def add_phone(number: str):
        code = emulator.control("POST", "/phone_codes", openid=user.openid, phone_number=number)["code"]
        return client.post("/api/v1/auth/phone", json={"code": code}, headers=headers)

    details = assert_error(add_phone("1" * 40), 502, "wechat_unavailable")
    assert details["field"] in ("phoneNumber", "purePhoneNumber")
    response = add_phone("13800138000")
    assert response.status_code == 200 and response.json["pure_phone_number"] == "13800138000"
