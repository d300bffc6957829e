"""The OpenAPI document says what the server accepts, and a generated client is typed by it.

test_openapi.py checks that the document is valid and that answers conform to it; this file
checks the other way round for the bodies business code writes: every recipient form the
server accepts (openid, user_id, external_id, phone_number) is valid against the served
document, and the client openapi-python-client generates from it has a typed send body and
typed batch recipients (a oneOf of `required` lists made them `Any` and `list[Any]`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from openapi_schema_validator import OAS30Validator

from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept, assert_error, send

T1 = ONE_TIME["priTmplId"]
NUMBER = "13800138000"
EXTERNAL_ID = "EMP-00123"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture
def spec(client) -> dict:
    return client.get("/openapi.json").json


def request_schema(spec: dict, path: str) -> OAS30Validator:
    """A validator of `POST path`'s JSON body, resolving $refs within the served document."""
    schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return OAS30Validator({"components": spec["components"], "allOf": [schema]})


def recipient_forms(user_id: int, openid: str) -> list[dict]:
    return [
        {"openid": openid},
        {"user_id": user_id},
        {"external_id": EXTERNAL_ID},
        {"phone_number": "+86 138 0013 8000"},
    ]


@pytest.fixture
def reachable(client, emulator, templates, user):
    """The user, reachable by each of the four recipient forms, with a credit for each send."""
    code = emulator.control("POST", "/phone_codes", openid=user.openid, phone_number=NUMBER, country_code="86")
    assert client.post("/api/v1/auth/phone", json={"code": code["code"]}, headers=user.auth).status_code == 200
    bound = client.put(f"/api/v1/users/{user.id}/external-id", json={"external_id": EXTERNAL_ID}, headers=API_KEY)
    assert bound.status_code == 200, bound.json
    accept(client, emulator, user, times=len(recipient_forms(user.id, user.openid)))
    return user


def test_a_send_by_any_recipient_form_is_valid_and_accepted(client, spec, reachable):
    validator = request_schema(spec, "/api/v1/messages")
    for recipient in recipient_forms(reachable.id, reachable.openid):
        body = {**recipient, "template_id": T1, "data": GOOD_DATA}
        errors = [error.message for error in validator.iter_errors(body)]
        assert errors == [], f"{recipient}: {errors}"
        response = send(client, body)
        assert response.status_code == 201, (recipient, response.json)
        assert response.json["user_id"] == reachable.id


def test_a_batch_of_mixed_recipients_is_valid_and_accepted(client, spec, reachable):
    forms = recipient_forms(reachable.id, reachable.openid)
    recipients = [{**form, "data": {"thing1": f"Kettle {i}"}} for i, form in enumerate(forms)]
    body = {"template_id": T1, "data": {"time2": GOOD_DATA["time2"]}, "recipients": recipients}
    validator = request_schema(spec, "/api/v1/batches")
    assert [error.message for error in validator.iter_errors(body)] == []
    created = client.post("/api/v1/batches", json=body, headers=API_KEY)
    assert created.status_code == 202, created.json
    assert created.json["total"] == len(recipients)
    # Its delivery goes on after the answer: it ends before the next test drops the schema.
    deadline = time.monotonic() + 30
    while client.get(f"/api/v1/batches/{created.json['id']}", headers=API_KEY).json["status"] != "done":
        assert time.monotonic() < deadline, "the batch did not finish"
        time.sleep(0.05)


def test_nullable_enums_take_their_values_or_null(spec):
    validator = request_schema(spec, "/api/v1/messages")
    body = {"user_id": 1, "template_id": T1, "data": GOOD_DATA}
    for lang in ("zh_CN", None):
        assert validator.is_valid({**body, "lang": lang}), lang
    assert not validator.is_valid({**body, "lang": "fr_FR"})


def test_the_one_recipient_rule_is_said_and_enforced(client, spec, templates, user):
    """The document can't say "exactly one of four" as a schema a client generator types well: it
    says it in words, and the server refuses two recipients (or none) as it always has."""
    schemas = spec["components"]["schemas"]
    for name in ("Send", "Recipient"):
        assert "oneOf" not in schemas[name], name
        assert set(schemas[name]["properties"]) >= {"openid", "user_id", "external_id", "phone_number"}, name
        assert "exactly one of" in schemas[name]["description"], name

    two = {"openid": user.openid, "user_id": user.id}
    for recipient in (two, {}):
        details = assert_error(
            send(client, {**recipient, "template_id": T1, "data": GOOD_DATA}), 400, "invalid_request"
        )
        assert details == {"recipient": "give exactly one of openid, user_id, external_id or phone_number"}
    batch = {"template_id": T1, "data": GOOD_DATA, "recipients": [{"user_id": user.id}, two]}
    details = assert_error(client.post("/api/v1/batches", json=batch, headers=API_KEY), 400, "invalid_request")
    assert details == {
        "recipients": {"1": {"recipient": ["give exactly one of openid, user_id, external_id or phone_number"]}}
    }


def test_the_device_of_a_report_and_of_a_subscription_is_typed(spec):
    schemas = spec["components"]["schemas"]
    device = {"allOf": [{"$ref": "#/components/schemas/Device"}]}
    for name in ("SubscriptionReport", "Subscription"):
        prop = schemas[name]["properties"]["device"]
        assert {key: prop[key] for key in prop if key != "description"} == device, name
    assert schemas["Device"]["required"] == ["model_id", "sn"]


def test_every_key_guarded_operation_names_the_api_key_scheme(app, spec):
    """The guard a view runs and the scheme its operation names are one: X-Api-Key is `apiKey`."""
    scheme = spec["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-Api-Key")
    client = app.test_client()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if operation.get("security") != [{"apiKey": []}]:
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            assert client.open(url, method=method.upper()).status_code == 401, f"{method} {path}"


# -- a generated client ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_generated_client_is_typed(spec, tmp_path):
    assert GENERATOR.exists(), "openapi-python-client is in requirements-dev.txt: make install"
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "config.yaml").write_text("post_hooks: []\n")  # no ruff pass over the generated code
    out = tmp_path / "client"
    subprocess.run(  # noqa: S603 - our own venv's generator over our own document
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(tmp_path / "spec.json"),
            "--output-path",
            str(out),
            "--meta",
            "none",
            "--config",
            str(tmp_path / "config.yaml"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
        env={**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    )

    create_message = (out / "api" / "messages" / "create_message.py").read_text()
    bodies = set(re.findall(r"^\s+body: (.+),$", create_message, re.MULTILINE))
    assert bodies == {"Send"}, bodies
    send_model = (out / "models" / "send.py").read_text()
    for recipient in ("openid: str | Unset", "user_id: int | Unset", "external_id: str | Unset"):
        assert recipient in send_model
    assert re.search(r"^    phone_number: str \| Unset", send_model, re.MULTILINE)
    assert re.search(r"^    lang: Lang \| None \| Unset", send_model, re.MULTILINE)  # not a union of three types

    batch_send = (out / "models" / "batch_send.py").read_text()
    assert re.search(r"^    recipients: list\[Recipient\]$", batch_send, re.MULTILINE)
    recipient = (out / "models" / "recipient.py").read_text()
    assert re.search(r"^    external_id: str \| Unset", recipient, re.MULTILINE)

    for model in ("subscription.py", "subscription_report.py"):
        assert re.search(r"^    device: Device \| Unset", (out / "models" / model).read_text(), re.MULTILINE), model
