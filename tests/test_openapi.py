"""The OpenAPI document: in step with the routes, valid OpenAPI 3, and true of the running API.

The last part is a schemathesis run over every documented operation, positive and negative
cases both, against the app in-process (WSGI) with the emulator as WeChat: no 5xx, and every
status, content type, header and body as the document says. It is bounded and reproducible:
derandomized, MAX_EXAMPLES per operation and mode (SCHEMATHESIS_EXAMPLES to change it), no
example database.
"""

from __future__ import annotations

import os
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis import checks as st_checks
from schemathesis.errors import FailureGroup  # a BaseExceptionGroup, not an Exception

from tests.helpers import API_KEY, GOOD_DATA, LAUNDRY_DATA, LONG_TERM, ONE_TIME, WASHER_DEVICE, log_in, reconfigure
from wxemu.pusher import PushTarget, event_message, signed_request

# Routes that are deliberately not in the document. Everything else the router knows must be.
NOT_DOCUMENTED = {
    "/openapi.json",  # the document itself
    "/docs",  # Swagger UI over it: an HTML page
}
NOT_DOCUMENTED_PREFIXES = (
    "/static/",  # Flask's static files (the dashboard's and Swagger UI's assets)
    # The operator's dashboard: an HTML page and the JSON it draws from, behind ADMIN_PASSWORD
    # (HTTP Basic) and 404 without it. It is the operator's page, not the contract's API.
    "/admin",
)
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "20"))
PUSH_TOKEN = "openapi-test-push-token"
LONG_DATA = {"thing1": "Line 42", "phrase2": "到站"}


def is_documented_route(rule: str) -> bool:
    return rule not in NOT_DOCUMENTED and not rule.startswith(NOT_DOCUMENTED_PREFIXES)


def openapi_path(rule: str) -> str:
    """`/a/<int:id>` as `/a/{id}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.json


def test_every_route_is_documented_and_every_documented_operation_is_routed(app, spec):
    routed = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if is_documented_route(rule.rule)
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {(path, method) for path, operations in spec["paths"].items() for method in operations}
    assert routed - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routed == set(), "documented operations with no route"


def test_the_document_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_operation_documents_its_auth_and_its_errors(spec):
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearerAuth"]["description"],
    }
    assert schemes["apiKey"]["in"] == "header" and schemes["apiKey"]["name"] == "X-Api-Key"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation["summary"], where
            statuses = set(operation["responses"])
            # A redirect is the success of the platform's authorization link (GET /wechat/component/authorize).
            successes = {status for status in statuses if status[0] in "23"}
            # One success answer; a send also answers 202 when it is delivered later.
            assert len(successes) == 1 or (where, successes) == ("POST /api/v1/messages", {"201", "202"}), where
            if path.startswith("/api/"):
                business = (
                    "/messages",
                    "/batches",
                    "/users",
                    "/binding-codes",
                    "/device-binding-codes",
                    "/device-messages",
                    "/apps/",
                )
                expected = {"apiKey"} if any(part in path for part in business) else {"bearerAuth"}
                if path == "/api/v1/auth/login":
                    expected = set()
                assert {name for item in operation.get("security", []) for name in item} == expected, where
            if operation.get("security"):
                assert "401" in statuses, where
            if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
                assert "400" in statuses, where
            for status, response in operation["responses"].items():
                if status not in successes:
                    response = resolve(spec, response)
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = spec["components"][section][name]
    return node


def test_the_error_codes_of_the_contract_are_documented(spec):
    codes = {example["value"]["error"]["code"] for response in iter_error_responses(spec) for example in response}
    assert codes >= {
        "invalid_request",
        "unauthorized",
        "wechat_code_invalid",
        "wechat_user_blocked",
        "user_not_found",
        "consent_required",
        "consent_revoked",
        "invalid_template_data",
        "wechat_rejected",
        "idempotency_conflict",
        "rate_limited",
        "wechat_unavailable",
        "ambiguous_recipient",
        "external_id_taken",
        "binding_code_invalid",
    }


def iter_error_responses(spec: dict):
    for operations in spec["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status[0] not in "23":
                    media = resolve(spec, response)["content"]["application/json"]
                    yield list(media["examples"].values()) if "examples" in media else [{"value": media["example"]}]


def test_docs_page_is_swagger_ui_served_from_here(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in assets
    assert "/static/vendor/swagger-ui/swagger-ui.css" in assets
    assert 'data-spec-url="/openapi.json"' in page
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    for asset in [*assets, "/static/vendor/swagger-ui/LICENSE"]:
        assert asset.startswith("/"), f"{asset} is not served by this backend"
        with client.get(asset) as served:  # a file response: closed, or a ResourceWarning
            assert served.status_code == 200, asset


# -- the schemathesis run --------------------------------------------------------------

CHECKS = [
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    st_checks.ignored_auth,  # each operation's documented auth is enforced
    st_checks.negative_data_rejection,  # what the document calls invalid is refused with a 4xx
]
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,  # the same cases on every run
    database=None,
    deadline=None,
    print_blob=False,
    # One app and database serve every example of the run, as in test_properties.py.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
LOGOUT = "POST /api/v1/auth/logout"  # revokes the token every bearer operation uses: it runs last


def test_api_answers_as_documented(app, user):
    """Positive and negative cases for every documented operation: no 5xx, nothing undocumented.

    schemathesis.pytest.from_fixture would make one subtest per operation, but its lazy loader
    sets `request.node._nodeid`, which pytest 9.2 no longer has; so this test drives
    schemathesis' strategies itself, one hypothesis run per operation and generation mode,
    and reports every failing operation at the end.
    """
    reconfigure(app, WX_TOKEN=PUSH_TOKEN)  # push configured: unsigned pushes are refused (403), not 404
    config = schemathesis.Config.from_dict(
        {
            "auth": {
                "openapi": {
                    "bearerAuth": {"bearer": user.token},
                    "apiKey": {"api_key": API_KEY["X-Api-Key"]},
                }
            }
        }
    )
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda operation: operation.label == LOGOUT)
    assert operations[-1].label == LOGOUT

    failures: dict[str, str] = {}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ_SETTINGS
            @given(case=operation.as_strategy(generation_mode=mode))
            def call_and_validate(case) -> None:
                case.call_and_validate(checks=CHECKS)

            try:
                call_and_validate()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, operation.label  # nothing to negate: no parameters
            except (FailureGroup, Exception) as exc:  # every failing operation is reported, not only the first
                failures[f"{operation.label} ({mode.value})"] = f"{type(exc).__name__}: {exc}"
    assert not failures, "\n\n".join(f"== {label}\n{failure}" for label, failure in failures.items())


# -- every success answer, and some errors, as the document says ------------------------


class Conformance:
    """Checks real answers against the served document: status, media type and body."""

    def __init__(self, app, client) -> None:
        self.client = client
        self.spec = client.get("/openapi.json").json
        self.schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
        self.seen: set[tuple[str, str, int]] = set()

    def __call__(self, response, method: str, path: str, status: int):
        assert response.status_code == status, response.get_data(as_text=True)
        documented = self.spec["paths"][path][method.lower()]["responses"]
        assert str(status) in documented, f"{status} is not documented for {method} {path}"
        media_types = set(resolve(self.spec, documented[str(status)]).get("content", {}))
        if media_types:
            assert response.mimetype in media_types
        else:
            assert not response.data
        self.schema[path][method].validate_response(response)
        self.seen.add((method, path, status))
        return response


def test_success_answers_match_the_document(app, client, emulator, templates, user):
    conforms = Conformance(app, client)
    auth, key = user.auth, API_KEY

    issued = emulator.login_code()
    conforms(client.post("/api/v1/auth/login", json={"code": issued["code"]}), "POST", "/api/v1/auth/login", 200)
    conforms(client.get("/api/v1/me", headers=auth), "GET", "/api/v1/me", 200)  # no phone: null
    code = emulator.control("POST", "/phone_codes", openid=user.openid, phone_number="13800138000")["code"]
    phone = client.post("/api/v1/auth/phone", json={"code": code}, headers=auth)
    conforms(phone, "POST", "/api/v1/auth/phone", 200)
    conforms(client.get("/api/v1/me", headers=auth), "GET", "/api/v1/me", 200)

    for template in (ONE_TIME, LONG_TERM):  # remaining: a number, and null for long_term
        emulator.control("POST", "/popup", openid=user.openid, results={template["priTmplId"]: "accept"})
        report = {"results": {template["priTmplId"]: "accept", "errMsg": "requestSubscribeMessage:ok"}}
        conforms(client.post("/api/v1/subscriptions", json=report, headers=auth), "POST", "/api/v1/subscriptions", 200)
    conforms(client.get("/api/v1/subscriptions", headers=auth), "GET", "/api/v1/subscriptions", 200)
    emulator.control("POST", "/devices", **WASHER_DEVICE)
    device = {"model_id": WASHER_DEVICE["model_id"], "sn": "SN-0001"}
    ticket = client.post("/api/v1/devices/sn-ticket", json=device, headers=auth)
    conforms(ticket, "POST", "/api/v1/devices/sn-ticket", 200)
    refused = client.post("/api/v1/devices/sn-ticket", json={**device, "model_id": "unknown"}, headers=auth)
    conforms(refused, "POST", "/api/v1/devices/sn-ticket", 422)
    laundry = WASHER_DEVICE["templates"][0]["priTmplId"]
    popup = {"openid": user.openid, **device, "sn_ticket": ticket.json["sn_ticket"], "results": {laundry: "accept"}}
    emulator.control("POST", "/device_popup", **popup)
    device_report = {"results": {laundry: "acceptWithAudio"}, "device": device}
    reported = client.post("/api/v1/subscriptions", json=device_report, headers=auth)
    conforms(reported, "POST", "/api/v1/subscriptions", 200)
    conforms(client.get("/api/v1/subscriptions", headers=auth), "GET", "/api/v1/subscriptions", 200)
    device_send = {"template_id": laundry, **device, "data": LAUNDRY_DATA, "recipients": [{"user_id": user.id}]}
    device_sent = client.post("/api/v1/device-messages", json=device_send, headers=key)
    conforms(device_sent, "POST", "/api/v1/device-messages", 201)
    assert [m["status"] for m in device_sent.json["messages"]] == ["sent"]
    bindings = f"/api/v1/devices/{device['model_id']}/{device['sn']}/users"
    bound = client.put(f"{bindings}/{user.id}", headers=key)
    conforms(bound, "PUT", "/api/v1/devices/{model_id}/{sn}/users/{user_id}", 200)
    conforms(client.get(bindings, headers=key), "GET", "/api/v1/devices/{model_id}/{sn}/users", 200)
    unbound = client.delete(f"{bindings}/{user.id}", headers=key)
    conforms(unbound, "DELETE", "/api/v1/devices/{model_id}/{sn}/users/{user_id}", 204)
    device_code = client.post("/api/v1/device-binding-codes", json=device, headers=key)
    conforms(device_code, "POST", "/api/v1/device-binding-codes", 201)
    device_redeemed = client.post("/api/v1/me/devices", json={"code": device_code.json["code"]}, headers=auth)
    assert conforms(device_redeemed, "POST", "/api/v1/me/devices", 200).json["user_id"] == user.id

    sent = client.post(
        "/api/v1/messages",
        json={"user_id": user.id, "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA},
        headers={**key, "Idempotency-Key": "conformance-1"},
    )
    conforms(sent, "POST", "/api/v1/messages", 201)
    long_term = {"openid": user.openid, "template_id": LONG_TERM["priTmplId"], "data": LONG_DATA}
    conforms(client.post("/api/v1/messages", json=long_term, headers=key), "POST", "/api/v1/messages", 201)
    message = client.get(f"/api/v1/messages/{sent.json['id']}", headers=key)
    conforms(message, "GET", "/api/v1/messages/{message_id}", 200)
    conforms(client.get("/api/v1/messages", headers=key), "GET", "/api/v1/messages", 200)
    no_credit = client.post(
        "/api/v1/messages",
        json={"user_id": user.id, "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA},
        headers=key,
    )
    conforms(no_credit, "POST", "/api/v1/messages", 409)
    later = {"user_id": user.id, "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA}
    queued = client.post("/api/v1/messages", json=later, headers={**key, "Prefer": "respond-async"})
    conforms(queued, "POST", "/api/v1/messages", 202)
    send_at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = client.post("/api/v1/messages", json={**later, "send_at": send_at}, headers=key)
    conforms(scheduled, "POST", "/api/v1/messages", 202)
    canceled = client.delete(f"/api/v1/messages/{scheduled.json['id']}", headers=key)
    conforms(canceled, "DELETE", "/api/v1/messages/{message_id}", 200)
    again = client.delete(f"/api/v1/messages/{scheduled.json['id']}", headers=key)
    conforms(again, "DELETE", "/api/v1/messages/{message_id}", 409)

    recipients = [{"user_id": user.id}, {"openid": "nobody-knows-me"}]
    batch = {"template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA, "recipients": recipients}
    created = conforms(client.post("/api/v1/batches", json=batch, headers=key), "POST", "/api/v1/batches", 202)
    url = f"/api/v1/batches/{created.json['id']}"
    deadline = time.monotonic() + 30
    while client.get(url, headers=key).json["status"] != "done":
        assert time.monotonic() < deadline, "the batch did not finish"
        time.sleep(0.05)
    conforms(client.get(url, headers=key), "GET", "/api/v1/batches/{batch_id}", 200)  # finished_at set
    page = conforms(client.get(f"{url}/messages", headers=key), "GET", "/api/v1/batches/{batch_id}/messages", 200)
    assert {item["user_id"] for item in page.json["items"]} == {user.id, None}
    conforms(client.get("/api/v1/batches/bat_nope", headers=key), "GET", "/api/v1/batches/{batch_id}", 404)

    conforms(client.get("/healthz"), "GET", "/healthz", 200)
    conforms(client.get("/metrics"), "GET", "/metrics", 200)

    for method in ("GET", "POST"):  # push not configured
        conforms(client.open("/wechat/push", method=method), method, "/wechat/push", 404)
    reconfigure(app, WX_TOKEN=PUSH_TOKEN)
    target = PushTarget(url="/wechat/push", token=PUSH_TOKEN, appid=app.config["WX_APPID"])
    items = [{"TemplateId": ONE_TIME["priTmplId"], "SubscribeStatusString": "accept", "PopupScene": 0}]
    query, body, content_type = signed_request(
        target, event_message(user.openid, "subscribe_msg_popup_event", items, int(time.time()))
    )
    verified = client.get("/wechat/push", query_string={**query, "echostr": "echo-me"})
    assert conforms(verified, "GET", "/wechat/push", 200).get_data(as_text=True) == "echo-me"
    pushed = client.post("/wechat/push", query_string=query, data=body.encode(), content_type=content_type)
    conforms(pushed, "POST", "/wechat/push", 200)
    conforms(client.get("/wechat/push", query_string={**query, "signature": "0" * 40}), "GET", "/wechat/push", 403)
    per_app = f"/wechat/push/{app.config['WX_APPID']}"  # the app's own URL answers alike
    verified = client.get(per_app, query_string={**query, "echostr": "echo-me"})
    assert conforms(verified, "GET", "/wechat/push/{appid}", 200).get_data(as_text=True) == "echo-me"
    pushed = client.post(per_app, query_string=query, data=body.encode(), content_type=content_type)
    conforms(pushed, "POST", "/wechat/push/{appid}", 200)  # WeChat's retry of the same push

    users, one_user = "/api/v1/users", "/api/v1/users/{user_id}"
    bound = client.put(f"/api/v1/users/{user.id}/external-id", json={"external_id": "EMP-1"}, headers=key)
    conforms(bound, "PUT", f"{one_user}/external-id", 200)
    conforms(client.get(f"/api/v1/users/{user.id}", headers=key), "GET", one_user, 200)  # external_id set
    found = client.get(users, query_string={"phone_number": "+86 138 0013 8000"}, headers=key)
    assert [account["id"] for account in conforms(found, "GET", users, 200).json["users"]] == [user.id]
    unbound = client.delete(f"/api/v1/users/{user.id}/external-id", headers=key)
    conforms(unbound, "DELETE", f"{one_user}/external-id", 204)
    conforms(client.get(f"/api/v1/users/{user.id}", headers=key), "GET", one_user, 200)  # external_id null
    conforms(client.get("/api/v1/users/99999", headers=key), "GET", one_user, 404)
    issued = client.post("/api/v1/binding-codes", json={"external_id": "EMP-2"}, headers=key)
    conforms(issued, "POST", "/api/v1/binding-codes", 201)
    redeemed = client.post("/api/v1/me/binding", json={"code": issued.json["code"]}, headers=auth)
    assert conforms(redeemed, "POST", "/api/v1/me/binding", 200).json["external_id"] == "EMP-2"

    standing = {"mainSwitch": True, "itemSettings": {ONE_TIME["priTmplId"]: "accept"}}
    settings = client.post("/api/v1/me/subscription-settings", json=standing, headers=auth)
    conforms(settings, "POST", "/api/v1/me/subscription-settings", 200)
    washer = {"time1": "2026年12月8日 09:30", "enum_string2": "Balcony"}  # no credit for it: held
    never_accepted = {"user_id": user.id, "template_id": "tmpl-washer", "data": washer, "if_no_credit": "wait"}
    held = client.post("/api/v1/messages", json=never_accepted, headers=key)
    assert conforms(held, "POST", "/api/v1/messages", 202).json["status"] == "awaiting_consent"
    conforms(client.get(f"/api/v1/users/{user.id}", headers=key), "GET", one_user, 200)  # waiting, always
    conforms(client.get("/api/v1/me/prompts", headers=auth), "GET", "/api/v1/me/prompts", 200)
    quota = client.get(f"/api/v1/apps/{app.config['WX_APPID']}/quota", headers=key)
    conforms(quota, "GET", "/api/v1/apps/{appid}/quota", 200)

    conforms(client.post("/api/v1/auth/logout", headers=auth), "POST", "/api/v1/auth/logout", 204)
    conforms(client.get("/api/v1/me", headers=auth), "GET", "/api/v1/me", 401)

    exported = client.get(f"/api/v1/users/{user.id}/export", headers=key)
    conforms(exported, "GET", f"{one_user}/export", 200)
    someone = log_in(client, emulator)
    conforms(client.get("/api/v1/me/export", headers=someone.auth), "GET", "/api/v1/me/export", 200)
    conforms(client.delete("/api/v1/me", headers=someone.auth), "DELETE", "/api/v1/me", 200)
    conforms(client.delete(f"/api/v1/users/{user.id}", headers=key), "DELETE", one_user, 200)
    conforms(client.get(f"/api/v1/users/{user.id}", headers=key), "GET", one_user, 410)

    successes = {
        (method.upper(), path, int(status))
        for path, operations in conforms.spec["paths"].items()
        for method, operation in operations.items()
        for status in operation["responses"]
        # A third-party platform's URLs need one configured: tests/test_component.py checks them.
        if status.startswith("2") and not path.startswith("/wechat/component/")
    }
    assert successes - conforms.seen == set(), "success answers this test did not check"
