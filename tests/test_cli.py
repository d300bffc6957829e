"""The flask commands business code beside the backend uses."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.models import Template
from tests.helpers import API_KEY, ENUM_TEMPLATE, ONE_TIME, accept, log_in
from tests.test_batches import create, give_users, wait_done
from wxemu.defaults import DEV_APPID


def test_templates_sync_stores_kind_keywords_and_enums(app, emulator, templates):
    result = app.test_cli_runner().invoke(args=["wx", "templates", "sync"])
    assert result.exit_code == 0, result.output
    assert ONE_TIME["priTmplId"] in result.output
    with app.app_context():
        washer = db.session.get(Template, (DEV_APPID, ENUM_TEMPLATE["priTmplId"]))
        assert washer.synced and washer.kind == "one_time"
        assert [kw["key"] for kw in washer.keywords] == ["time1", "enum_string2"]
        assert washer.enum_values == {"enum_string2": ["Laundry room", "Balcony"]}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Template)) == 3


def test_send_prints_the_outcome(app, client, emulator, templates):
    user = log_in(client, emulator)
    accept(client, emulator, user)
    args = [
        "wx",
        "send",
        "--openid",
        user.openid,
        "--template",
        ONE_TIME["priTmplId"],
        "--data",
        "thing1=Kettle",
        "--data",
        "time2=15:01",
    ]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["status"] == "sent"
    again = app.test_cli_runner().invoke(args=args)
    assert again.exit_code == 1
    assert json.loads(again.stdout.strip().splitlines()[-1])["error"]["code"] == "consent_required"
    assert again.stderr.splitlines() == ["Error: consent_required: The user has no send credit for this template."]


def test_send_refuses_malformed_data(app):
    result = app.test_cli_runner().invoke(args=["wx", "send", "--openid", "o", "--template", "t", "--data", "oops"])
    assert result.exit_code == 2 and "key=value" in result.output


def test_send_batch_from_csv_follows_the_batch_to_a_summary(app, client, emulator, templates, tmp_path):
    users = [log_in(client, emulator) for _ in range(3)]
    for user in users[:2]:
        accept(client, emulator, user)
    csv_file = tmp_path / "recipients.csv"
    rows = [f"{user.openid},Parcel {i}" for i, user in enumerate(users)] + ["o-nobody,Parcel x"]
    csv_file.write_text("openid,thing1\n" + "\n".join(rows) + "\n", encoding="utf-8")
    args = ["wx", "send-batch", str(csv_file), "--template", ONE_TIME["priTmplId"], "--data", "time2=15:01"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "4 recipients" in result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["counts"] == {"sent": 2, "consent_required": 1, "user_not_found": 1}
    assert sorted(m["data"]["thing1"]["value"] for m in emulator.control("GET", "/sent")) == ["Parcel 0", "Parcel 1"]


def test_send_batch_refuses_a_bad_value_before_queuing(app, emulator, templates, tmp_path):
    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text("openid,thing1\no1," + "x" * 21 + "\n", encoding="utf-8")
    args = ["wx", "send-batch", str(csv_file), "--template", ONE_TIME["priTmplId"], "--data", "time2=15:01"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 1
    assert json.loads(result.stdout.strip().splitlines()[-1])["error"]["details"] == {
        "recipients.0.thing1": "longer than 20 characters"
    }


def test_sweep_queues_again_the_messages_of_a_lost_job(app, client, emulator, templates):
    ready = give_users(app, emulator, 2)
    queue = app.extensions["queue"]
    queue.enqueue = lambda ids: None  # the job is lost
    batch = create(client, [{"openid": o, "data": {"thing1": "x"}} for o in ready]).json
    del queue.enqueue  # the queue works again
    app.config["REQUEUE_AFTER"] = 0
    result = app.test_cli_runner().invoke(args=["wx", "sweep"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1]) == {"unknown": 0, "requeued": 2}
    assert wait_done(client, batch["id"])["counts"] == {"sent": 2}
    assert sorted(m["touser"] for m in emulator.control("GET", "/sent")) == sorted(ready)


def test_send_and_send_batch_by_external_id_and_phone_number(app, client, emulator, templates, tmp_path):
    bound, phoned = log_in(client, emulator), log_in(client, emulator)
    for user in (bound, phoned):
        accept(client, emulator, user, times=2)
    client.put(f"/api/v1/users/{bound.id}/external-id", json={"external_id": "EMP-7"}, headers=API_KEY)
    code = emulator.control("POST", "/phone_codes", openid=phoned.openid, phone_number="13800138000")["code"]
    assert client.post("/api/v1/auth/phone", json={"code": code}, headers=phoned.auth).status_code == 200
    data = ["--template", ONE_TIME["priTmplId"], "--data", "thing1=Kettle", "--data", "time2=15:01"]
    for recipient in (["--external-id", "EMP-7"], ["--phone-number", "+86 138 0013 8000"]):
        result = app.test_cli_runner().invoke(args=["wx", "send", *recipient, *data])
        assert result.exit_code == 0, result.output
    unbound = app.test_cli_runner().invoke(args=["wx", "send", "--external-id", "EMP-none", *data])
    assert json.loads(unbound.stdout.strip().splitlines()[-1])["error"]["code"] == "user_not_found"

    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text("external_id,phone_number,thing1\nEMP-7,,A\n,13800138000,B\n", encoding="utf-8")
    args = ["wx", "send-batch", str(csv_file), "--template", ONE_TIME["priTmplId"], "--data", "time2=15:01"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["counts"] == {"sent": 2}
    sent_to = [call["touser"] for call in emulator.calls("subscribe_send")]
    assert sorted(sent_to) == sorted([bound.openid, phoned.openid] * 2)


@pytest.mark.parametrize(
    "row", ["EMP-7,13800138000,A", ",,A", ",12,A"], ids=["two recipients", "none", "not a phone number"]
)
def test_send_batch_refuses_a_row_without_exactly_one_recipient(app, tmp_path, row):
    csv_file = tmp_path / "recipients.csv"
    csv_file.write_text(f"external_id,phone_number,thing1\n{row}\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["wx", "send-batch", str(csv_file), "--template", "t"])
    assert result.exit_code == 2 and "line 2" in result.output
