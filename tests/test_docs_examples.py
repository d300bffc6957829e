"""The answers docs/api.md and docs/zh-CN/api.md show are the answers the API gives.

Each fenced `json` block of both documents follows a line `<!-- example: NAME -->`, NAME one of
ANSWERS below; the test makes that answer for real (the test client, against the emulator) and
compares the shapes: the same keys at every level, items of a list like the real list's first,
a value of the same JSON type (`null` on either side stands for any). A block without its
marker, or an example that drifted from the code, fails here by document and name; the fix is
in the document (or, when the document is right, in the code).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.models import WebhookEvent
from tests.helpers import API_KEY, GOOD_DATA, LAUNDRY_DATA, ONE_TIME, WASHER_DEVICE, log_in, reconfigure
from tests.servers import ROOT

DOCS = ["docs/api.md", "docs/zh-CN/api.md"]
JSON_BLOCK = re.compile(r"^```json\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)
MARKER = re.compile(r"^<!-- example: ([\w-]+) -->$")
ANSWERS = (
    "error",  # POST /api/v1/messages without a credit: 409
    "login",  # POST /api/v1/auth/login
    "phone",  # POST /api/v1/auth/phone
    "subscription",  # POST /api/v1/subscriptions: one of its `subscriptions`
    "sn-ticket",  # POST /api/v1/devices/sn-ticket
    "device-subscription",  # POST /api/v1/subscriptions with `device`: one of its `subscriptions`
    "send",  # POST /api/v1/messages: 201
    "scheduled",  # POST /api/v1/messages with send_at: 202
    "message",  # GET /api/v1/messages/<id>
    "batch",  # POST /api/v1/batches: 202
    "user",  # GET /api/v1/users/<id>
    "device-messages",  # POST /api/v1/device-messages: 201
    "device-binding",  # POST /api/v1/me/devices: the binding a device binding code made
    "webhook-event",  # the body of a message.failed webhook
)
# Objects whose keys are data, not fields: a batch's counts by outcome.
MAPS = {"counts"}
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def examples(name: str) -> list[tuple[str, Any]]:
    """(marker name, parsed example) of every json block of document `name`, in order."""
    text = (ROOT / name).read_text(encoding="utf-8")
    found = []
    for match in JSON_BLOCK.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = MARKER.match(before)
        line = text[: match.start()].count("\n") + 1
        assert marker, f"{name}:{line}: put <!-- example: NAME --> (NAME one of tests/test_docs_examples.py ANSWERS)"
        found.append((marker[1], json.loads(match[1])))
    return found


def mismatches(example: Any, real: Any, where: str = "") -> list[str]:
    """How the example's shape differs from the real answer's, one line per difference."""
    if example is None or real is None:
        return []
    if isinstance(example, dict) and isinstance(real, dict) and where.rpartition(".")[2] in MAPS:
        return [line for key, value in example.items() for line in _values_of_a_map(key, value, real, where)]
    if isinstance(example, dict) and isinstance(real, dict):
        found = [f"{where}.{key}: not in the answer" for key in sorted(set(example) - set(real))]
        found += [f"{where}.{key}: in the answer, not in the example" for key in sorted(set(real) - set(example))]
        for key in sorted(set(example) & set(real)):
            found += mismatches(example[key], real[key], f"{where}.{key}")
        return found
    if isinstance(example, list) and isinstance(real, list):
        if not real:
            return [f"{where}: the answer's list is empty, nothing to compare"] if example else []
        return [line for i, item in enumerate(example) for line in mismatches(item, real[0], f"{where}[{i}]")]
    kinds = [_kind(example), _kind(real)]
    return [] if kinds[0] == kinds[1] else [f"{where}: {kinds[0]} in the example, {kinds[1]} in the answer"]


def _values_of_a_map(key: str, value: Any, real: dict, where: str) -> list[str]:
    """A map's keys are data (an outcome, a keyword): its values only have a shape."""
    sample = next(iter(real.values()), None)
    return mismatches(value, sample, f"{where}.{key}") if sample is not None else []


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


@pytest.mark.parametrize("name", DOCS)
def test_every_json_block_names_its_answer(name):
    found = examples(name)
    assert found and {marker for marker, _ in found} <= set(ANSWERS), [m for m, _ in found if m not in ANSWERS]


def test_both_documents_show_the_same_answers():
    english, chinese = ([marker for marker, _ in examples(name)] for name in DOCS)
    assert english == chinese


def test_the_comparison_sees_a_difference():
    real = {"id": "msg_1", "user": {"id": 1, "appid": "wx1"}, "items": [{"a": 1}], "n": None}
    assert mismatches({"id": "msg_…", "user": {"id": 2, "appid": "…"}, "items": [{"a": 2}], "n": 3}, real) == []
    assert mismatches({"id": 1, "user": {"id": 2}, "items": [{"a": 1, "b": 2}], "n": 3}, real) == [
        ".id: number in the example, str in the answer",
        ".items[0].b: not in the answer",
        ".user.appid: in the answer, not in the example",
    ]


def real_answers(app, client, emulator) -> dict[str, Any]:
    """Every answer of ANSWERS, made for real against the emulator."""
    answers: dict[str, Any] = {}
    reconfigure(app, WEBHOOK_URL="http://127.0.0.1:9/hooks", WEBHOOK_SECRET=WEBHOOK_SECRET)  # events are written
    issued = emulator.login_code()
    login = client.post("/api/v1/auth/login", json={"code": issued["code"]})
    answers["login"] = login.json
    auth = {"Authorization": f"Bearer {login.json['token']}"}
    user_id, openid = login.json["user"]["id"], issued["openid"]

    code = emulator.control("POST", "/phone_codes", openid=openid, phone_number="13800138000")["code"]
    answers["phone"] = client.post("/api/v1/auth/phone", json={"code": code}, headers=auth).json

    no_credit = {"user_id": user_id, "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA}
    refused = client.post("/api/v1/messages", json=no_credit, headers=API_KEY)
    assert refused.status_code == 409, refused.json
    answers["error"] = refused.json
    for _ in range(2):
        emulator.control("POST", "/popup", openid=openid, results={ONE_TIME["priTmplId"]: "accept"})
        report = {"results": {ONE_TIME["priTmplId"]: "accept", "errMsg": "requestSubscribeMessage:ok"}}
        reported = client.post("/api/v1/subscriptions", json=report, headers=auth)
    answers["subscription"] = reported.json["subscriptions"][0]

    emulator.control("POST", "/devices", **WASHER_DEVICE)
    device = {"model_id": WASHER_DEVICE["model_id"], "sn": "SN-0001"}
    device_code = client.post("/api/v1/device-binding-codes", json=device, headers=API_KEY)
    assert device_code.status_code == 201, device_code.json
    redeemed = client.post("/api/v1/me/devices", json={"code": device_code.json["code"]}, headers=auth)
    answers["device-binding"] = redeemed.json
    ticket = client.post("/api/v1/devices/sn-ticket", json=device, headers=auth)
    answers["sn-ticket"] = ticket.json
    laundry = WASHER_DEVICE["templates"][0]["priTmplId"]
    popup = {"openid": openid, **device, "sn_ticket": ticket.json["sn_ticket"], "results": {laundry: "accept"}}
    emulator.control("POST", "/device_popup", **popup)
    device_report = {"results": {laundry: "acceptWithAudio"}, "device": device}
    answers["device-subscription"] = client.post("/api/v1/subscriptions", json=device_report, headers=auth).json[
        "subscriptions"
    ][0]
    stranger = log_in(client, emulator)  # no subscription: skipped
    device_send = {
        "template_id": laundry,
        **device,
        "data": LAUNDRY_DATA,
        "recipients": [{"user_id": user_id}, {"user_id": stranger.id}],
    }
    answers["device-messages"] = client.post("/api/v1/device-messages", json=device_send, headers=API_KEY).json

    sent = client.post("/api/v1/messages", json=no_credit, headers=API_KEY)
    assert sent.status_code == 201, sent.json
    answers["send"] = sent.json
    answers["message"] = client.get(f"/api/v1/messages/{sent.json['id']}", headers=API_KEY).json
    # The user turned the template off in WeChat's settings: the next send is refused with 43101.
    emulator.control("POST", "/settings", openid=openid, template_id=ONE_TIME["priTmplId"], status="reject")
    revoked = client.post("/api/v1/messages", json=no_credit, headers=API_KEY)
    assert revoked.status_code == 409 and revoked.json["error"]["code"] == "consent_revoked", revoked.json
    with app.app_context():  # it emitted message.failed
        answers["webhook-event"] = db.session.scalars(
            sa.select(WebhookEvent.payload).where(WebhookEvent.type == "message.failed")
        ).first()
    assert answers["webhook-event"], "no message.failed event was written"
    send_at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    scheduled = client.post("/api/v1/messages", json={**no_credit, "send_at": send_at}, headers=API_KEY)
    assert scheduled.status_code == 202, scheduled.json
    answers["scheduled"] = scheduled.json

    bound = client.put(f"/api/v1/users/{user_id}/external-id", json={"external_id": "EMP-00123"}, headers=API_KEY)
    assert bound.status_code == 200, bound.json
    answers["user"] = client.get(f"/api/v1/users/{user_id}", headers=API_KEY).json

    recipients = [{"user_id": user_id}, {"openid": "nobody-knows-me"}]
    batch = {"template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA, "recipients": recipients}
    created = client.post("/api/v1/batches", json=batch, headers=API_KEY)
    assert created.status_code == 202, created.json
    answers["batch"] = created.json
    deadline = time.monotonic() + 30  # let the in-process workers finish before the app goes
    while client.get(f"/api/v1/batches/{created.json['id']}", headers=API_KEY).json["status"] != "done":
        assert time.monotonic() < deadline, "the batch did not finish"
        time.sleep(0.05)
    assert set(answers) == set(ANSWERS)
    return answers


@pytest.fixture
def answers(app, client, emulator, templates) -> dict[str, Any]:
    return real_answers(app, client, emulator)


def test_the_examples_have_the_answers_shape(answers):
    wrong = [
        f"{name} <!-- example: {marker} -->{line}"
        for name in DOCS
        for marker, example in examples(name)
        for line in mismatches(example, answers[marker])
    ]
    assert wrong == [], "\n" + "\n".join(wrong)
