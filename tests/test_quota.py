"""WeChat's daily quota of subscribe/send (getApiQuota): read rarely, shared, and what 45009 does.

The quota API is itself limited: many requests at once make one call, and a second call comes
only once the answer is 10 minutes old. A send refused with 45009 (the day's quota reached) is
answered `rate_limited` and gives its credit back.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from backend.extensions import db
from backend.models import ApiQuota
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept, assert_error, at_once, send

T1 = ONE_TIME["priTmplId"]


def quota(client, appid: str):
    return client.get(f"/api/v1/apps/{appid}/quota", headers=API_KEY)


def test_the_quota_is_read_once_for_many_requests_at_once(app, client, emulator):
    appid = app.config["WX_APPID"]
    emulator.control("POST", "/quota", daily_limit=1000, used=120)
    answers = at_once(20, lambda n: quota(app.test_client(), appid))
    assert {response.status_code for response in answers} == {200}
    assert {(r.json["daily_limit"], r.json["used"], r.json["remain"]) for r in answers} == {(1000, 120, 880)}
    assert len(emulator.calls("quota_get")) == 1
    emulator.control("POST", "/quota", daily_limit=1000, used=500)
    assert quota(client, appid).json["remain"] == 880  # still the answer read moments ago
    assert len(emulator.calls("quota_get")) == 1
    with app.app_context():  # ten minutes later
        row = db.session.get(ApiQuota, appid)
        row.read_at = row.read_at - timedelta(minutes=10, seconds=1)
        db.session.commit()
    assert quota(client, appid).json["remain"] == 500
    assert len(emulator.calls("quota_get")) == 2


def test_a_quota_of_another_app_or_none_is_refused(app, client, emulator):
    assert_error(quota(client, "wx0000000000000bad"), 404, "app_not_found")
    response = client.get(f"/api/v1/apps/{app.config['WX_APPID']}/quota")
    assert response.status_code == 401
    assert emulator.calls("quota_get") == []


def test_the_quota_shows_in_metrics(app, client, emulator):
    emulator.control("POST", "/quota", daily_limit=1000, used=990)
    quota(client, app.config["WX_APPID"])
    text = client.get("/metrics").get_data(as_text=True)
    assert f'wxsub_wechat_quota_remaining{{appid="{app.config["WX_APPID"]}"}} 10.0' in text


def test_45009_is_rate_limited_and_gives_the_credit_back(app, client, emulator, templates, user):
    accept(client, emulator, user)
    emulator.control("POST", "/quota", daily_limit=5, used=5)
    details = assert_error(
        send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}), 429, "rate_limited"
    )
    assert details["errcode"] == 45009
    [call] = emulator.calls("subscribe_send")
    assert call["errcode"] == 45009
    subs = client.get("/api/v1/subscriptions", headers=user.auth).json["subscriptions"]
    assert [s["remaining"] for s in subs if s["template_id"] == T1] == [1]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiQuota)) == 0  # a send reads no quota
    emulator.control("POST", "/quota", daily_limit=6)
    assert send(client, {"openid": user.openid, "template_id": T1, "data": GOOD_DATA}).status_code == 201
