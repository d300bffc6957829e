"""Junk of every shape gets a 4xx in the error shape, never a 5xx, and never a partial write.

Property-based (hypothesis) tests feed the value validators directly and the HTTP endpoints
through the Flask test client; plain cases pin down specific junk (huge, deep, NUL, overflow).

The HTTP properties run many examples against one app (and one database) per test: the
fixtures are function-scoped, so hypothesis' function_scoped_fixture health check is
suppressed and every example is made independent of the others instead: it asserts only
on its own response and on row counts taken right before and after its own request.
HYPOTHESIS_HTTP_EXAMPLES=1000 runs more examples per HTTP property (default 60).
"""

from __future__ import annotations

import itertools
import json
import os
import string
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from backend.api.guards import MAX_JSON_DEPTH
from backend.errors import InvalidTemplateData
from backend.extensions import db
from backend.infra.idempotency import MAX_KEY_LENGTH
from backend.models import ConsentEvent, Message, Subscription, Template
from backend.templates.values import MAX_KEYS, normalize_values, validate_data
from backend.wechat.keyword_rules import CJK_NAME_LIMIT, ELLIPSIS, KNOWN_TYPES, LIMITS, check_value, keyword_type
from backend.wechat.keyword_rules import truncate_value as truncate
from tests.helpers import API_KEY, GOOD_DATA, LONG_TERM, ONE_TIME, accept, assert_error, send
from wxemu.defaults import DEV_APPID

T1 = ONE_TIME["priTmplId"]
T_LONG = LONG_TERM["priTmplId"]
LONG_DATA = {"thing1": "Line 42", "phrase2": "到站"}
TRUNCATABLE = {"thing", "name", "character_string", "letter"}

# --- strategies ----------------------------------------------------------------------

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
KEYWORD_KEYS = [f"{kind}{n}" for kind in sorted(KNOWN_TYPES) for n in (1, 2)] + ["enum_string2", "keyword1", ""]
# Keys that look like keywords (so the type rules run) and keys that are anything at all.
keyword_keys = st.sampled_from(KEYWORD_KEYS) | st.text(max_size=12)
# Values that are sometimes valid for some type, sometimes anything.
keyword_texts = (
    st.text(max_size=60)
    | st.sampled_from(["15:01", "2019年10月1日", "¥12.50", "粤B12345", "张三", "到站", "Laundry room", "-3.5", "ABC"])
    | st.from_regex(r"\s*[A-Za-z0-9 ]{15,40}\s*", fullmatch=True)
)
keyword_values = keyword_texts | st.fixed_dictionaries({"value": keyword_texts}) | json_values
template_data = st.dictionaries(keyword_keys, keyword_values, max_size=6) | json_values


def mostly(good, junk):
    """`good` three times in four, else `junk`: well-formed enough to get past the first check."""
    return st.sampled_from([good, good, good, junk]).flatmap(lambda strategy: strategy)


# HTTP header values as a server hands them to the app: latin-1 text, no line breaks.
header_text = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=300)
# Mostly a fresh key (FRESH: see idempotency_header), sometimes junk that may repeat, so
# that a replay or an idempotency_conflict comes up now and then.
FRESH = "<fresh key>"
idempotency_keys = st.none() | mostly(st.just(FRESH), header_text)
_fresh_keys = itertools.count()
# Broken JSON, built from JSON's own tokens and the escapes that trouble databases.
JSON_TOKENS = [
    "{", "}", "[", "]", ":", ",", '"', "null", "true", "1", "-0", "1e999", "NaN", "-Infinity",
    '"code"', '"results"', '"data"', '"template_id"', '"openid"', '"user_id"', '"x"',
    "\\u0000", "\\ud800", "\\udc00", "\\ud83d\\ude00", "\\", "\x00", "\xff", " ",
]  # fmt: skip
broken_json = st.lists(st.sampled_from(JSON_TOKENS), max_size=30).map(lambda tokens: "".join(tokens).encode())
raw_bodies = (
    st.binary(max_size=300)
    | broken_json
    | st.tuples(json_values, st.sampled_from(["utf-8", "utf-16", "utf-32", "utf-8-sig"])).map(
        lambda pair: json.dumps(pair[0], ensure_ascii=False).encode(pair[1])
    )
)
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-16",
    "application/merge-patch+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonx",
    "",
]

HTTP = settings(
    max_examples=int(os.environ.get("HYPOTHESIS_HTTP_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- helpers ---------------------------------------------------------------------------


def assert_error_shape(response) -> None:
    """Below 500 always; a 4xx body is exactly the API's error object."""
    assert response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json(silent=True)
    if currently_in_test_context():  # `--hypothesis-show-statistics` tallies the answers
        event(f"{response.status_code} {body['error']['code'] if response.status_code >= 400 else ''}".strip())
    if response.status_code >= 400:
        assert isinstance(body, dict) and set(body) == {"error"}, response.get_data(as_text=True)[:500]
        error = body["error"]
        assert set(error) == {"code", "message", "details"}, error
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["details"], dict)


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (ConsentEvent, Subscription, Message)
        }


def assert_no_partial_write(app, before: dict[str, int], response) -> None:
    assert_error_shape(response)
    if response.status_code >= 400:
        assert row_counts(app) == before, response.get_json()


def headers_of(**values) -> dict[str, str]:
    return {name: value for name, value in values.items() if value is not None}


def idempotency_header(key: str | None) -> dict[str, str]:
    if key == FRESH:
        key = f"fresh-{next(_fresh_keys)}"
    return headers_of(**{"Idempotency-Key": key})


def post_raw(client, path: str, raw: bytes, content_type: str, headers: dict | None = None):
    return client.post(path, data=raw, headers={**(headers or {}), "Content-Type": content_type})


# --- the validators --------------------------------------------------------------------


def synced_template(template: dict, enums: dict | None = None) -> Template:
    keywords = [{"key": kw["key"], "name": kw["name"], "type": keyword_type(kw["key"])} for kw in template["keywords"]]
    return Template(
        app_id=DEV_APPID,
        id=template["priTmplId"],
        kind="one_time",
        keywords=keywords,
        enum_values=enums or {},
        synced=True,
    )


TEMPLATES = [
    None,
    synced_template(ONE_TIME),
    synced_template(LONG_TERM),
    synced_template(
        {"priTmplId": "tmpl-enum", "keywords": [{"key": "enum_string2", "name": "Where"}]},
        {"enum_string2": ["Laundry room", "Balcony"]},
    ),
    Template(app_id=DEV_APPID, id="tmpl-unsynced", kind="one_time", keywords=[], enum_values={}, synced=False),
]


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(KNOWN_TYPES)) | st.text(max_size=10), value=keyword_texts | json_values)
def test_check_value_answers_none_or_a_reason(kind, value):
    reason = check_value(kind, value)
    assert reason is None or (isinstance(reason, str) and reason)
    if reason is None:
        assert isinstance(value, str) and value.strip()


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(sorted(KNOWN_TYPES)), value=keyword_texts)
def test_truncation_never_leaves_a_value_too_long(kind, value):
    shortened = truncate(kind, value)
    assert isinstance(shortened, str)
    if kind not in TRUNCATABLE:
        assert shortened == value  # only free text is ever shortened
        return
    text = shortened.strip()
    assert len(text) <= LIMITS[kind]
    if kind == "name" and any(check_value("phrase", ch) is None for ch in text):  # has Chinese characters
        assert len(text) <= CJK_NAME_LIMIT
    if kind == "thing" and value.strip() and value.isprintable():
        assert (
            check_value("thing", shortened) is None
        )  # a thing is anything without control characters, once short enough


@settings(max_examples=300, deadline=None)
@given(data=template_data)
def test_normalize_values_never_raises(data):
    values, errors = normalize_values(data)
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in values.items())
    assert all(isinstance(reason, str) for reason in errors.values())
    assert values or errors
    assert not set(values) & set(errors)


@settings(max_examples=500, deadline=None)
@given(template=st.sampled_from(TEMPLATES), data=template_data, truncate_=st.booleans())
@example(template=None, data={"thing1": "x" * 50}, truncate_=True)
@example(template=None, data={f"thing{n}": "a" for n in range(MAX_KEYS + 1)}, truncate_=False)
@example(template=None, data={"thing1": {"value": "a", "extra": 1}}, truncate_=False)
@example(template=TEMPLATES[1], data={"thing1": "a" * 21, "time2": "15:01"}, truncate_=True)
def test_validate_data_returns_checked_strings_or_raises_invalid_template_data(template, data, truncate_):
    try:
        values = validate_data(template, data, truncate=truncate_)
    except InvalidTemplateData as exc:
        assert exc.status == 422 and exc.details
        assert all(isinstance(key, str) and isinstance(reason, str) for key, reason in exc.details.items())
        return
    assert isinstance(data, dict) and values and len(values) <= MAX_KEYS
    enums = template.enum_values if template else {}
    for key, value in values.items():
        assert key in data and isinstance(value, str)
        assert check_value(keyword_type(key), value, enums.get(key)) is None
        if truncate_ and keyword_type(key) == "thing":
            assert len(value.strip()) <= LIMITS["thing"]
            raw = data[key]["value"] if isinstance(data[key], dict) else data[key]
            if len(raw.strip()) > LIMITS["thing"]:
                assert value.endswith(ELLIPSIS) and len(value) == LIMITS["thing"]
    if template is not None and template.synced:
        assert set(values) == {kw["key"] for kw in template.keywords}


# --- the endpoints: arbitrary bodies and headers ------------------------------------------


@HTTP
@given(body=json_values | st.fixed_dictionaries({}, optional={"code": json_values | st.text(max_size=300)}))
def test_login_with_any_json_body(client, body):
    assert_error_shape(client.post("/api/v1/auth/login", json=body))


@HTTP
@given(raw=raw_bodies, content_type=st.sampled_from(CONTENT_TYPES))
def test_login_with_any_bytes(client, raw, content_type):
    assert_error_shape(post_raw(client, "/api/v1/auth/login", raw, content_type))


@HTTP
@given(
    body=json_values | st.fixed_dictionaries({"code": json_values | st.text(max_size=300)}),
    authorization=mostly(st.just(None), st.none() | header_text | header_text.map("Bearer {}".format)),
)
def test_phone_with_any_body_and_authorization(client, user, body, authorization):
    # authorization None stands for the user's own valid session token.
    headers = {"Authorization": user.auth["Authorization"] if authorization is None else authorization}
    assert_error_shape(client.post("/api/v1/auth/phone", json=body, headers=headers))


def subscription_bodies():
    """Reports that are mostly well-formed (so many are recorded), with junk mixed in at every level."""
    template_ids = mostly(st.sampled_from([T1, T_LONG, "tmpl-not-at-wechat"]), st.text(max_size=70))
    statuses = mostly(st.sampled_from(["accept", "reject", "ban", "filter", "acceptWithAlert"]), json_values)
    results = mostly(st.dictionaries(template_ids, statuses, min_size=1, max_size=3), json_values)
    errmsg = st.sampled_from(["requestSubscribeMessage:ok", "requestSubscribeMessage:fail"]) | json_values
    results = results | st.tuples(results, errmsg).map(
        lambda pair: {**pair[0], "errMsg": pair[1]} if isinstance(pair[0], dict) else pair[0]
    )
    body = st.fixed_dictionaries(
        {"results": results}, optional={"scene": mostly(st.none() | st.text(max_size=80), json_values)}
    )
    with_extra = st.tuples(body, st.dictionaries(st.text(max_size=12), json_values, min_size=1, max_size=2))
    return mostly(body, with_extra.map(lambda pair: {**pair[1], **pair[0]}) | json_values)


@HTTP
@given(
    body=subscription_bodies(),
    authorization=mostly(st.just(None), st.none() | header_text | header_text.map("Bearer {}".format)),
    idempotency_key=idempotency_keys,
)
def test_subscriptions_with_any_body_and_headers(app, client, user, body, authorization, idempotency_key):
    # authorization None stands for the user's own valid session token.
    auth = user.auth["Authorization"] if authorization is None else authorization
    headers = {"Authorization": auth, **idempotency_header(idempotency_key)}
    before = row_counts(app)
    response = client.post("/api/v1/subscriptions", json=body, headers=headers)
    assert_no_partial_write(app, before, response)


@HTTP
@given(raw=raw_bodies, content_type=st.sampled_from(CONTENT_TYPES), idempotency_key=idempotency_keys)
def test_subscriptions_with_any_bytes(app, client, user, raw, content_type, idempotency_key):
    headers = {**user.auth, **idempotency_header(idempotency_key)}
    before = row_counts(app)
    response = post_raw(client, "/api/v1/subscriptions", raw, content_type, headers)
    assert_no_partial_write(app, before, response)


def send_bodies(user):
    """Sends that are mostly well-formed, to a long-term template the user accepted (so many go
    all the way to WeChat), with junk mixed in at every level."""
    template_ids = mostly(
        st.sampled_from([T_LONG, T_LONG, T1, "tmpl-not-at-wechat"]), st.text(max_size=70) | json_values
    )
    long_thing = st.text(min_size=1, max_size=60).map(lambda text: {**LONG_DATA, "thing1": text})
    data = mostly(st.sampled_from([LONG_DATA, GOOD_DATA]) | long_thing, template_data)
    data = data | st.tuples(st.just(LONG_DATA), template_data).map(
        lambda pair: {**pair[0], **pair[1]} if isinstance(pair[1], dict) else pair[0]
    )
    recipient = mostly(
        st.sampled_from([{"openid": user.openid}, {"user_id": user.id}]),
        st.dictionaries(st.sampled_from(["openid", "user_id"]), st.text(max_size=70) | json_values, max_size=2),
    )
    body = st.fixed_dictionaries(
        {"template_id": template_ids, "data": data},
        optional={
            "page": mostly(
                st.sampled_from(["pages/index/index", "pages/order?id=1"]), st.text(max_size=600) | json_values
            ),
            "miniprogram_state": mostly(st.sampled_from(["developer", "trial", "formal"]), json_values),
            "lang": mostly(st.sampled_from(["zh_CN", "en_US"]), json_values),
            "truncate": mostly(st.booleans(), json_values),
        },
    )
    body = st.tuples(recipient, body).map(lambda pair: {**pair[0], **pair[1]})
    with_extra = st.tuples(body, st.dictionaries(st.text(max_size=12), json_values, min_size=1, max_size=2))
    return mostly(body, with_extra.map(lambda pair: {**pair[1], **pair[0]}) | json_values)


@pytest.fixture
def long_term_subscriber(client, emulator, user, templates):
    """The user accepted the long-term template: valid sends to it go through, again and again."""
    accept(client, emulator, user, T_LONG)
    return user


@HTTP
@given(data=st.data(), api_key=mostly(st.just(None), header_text), idempotency_key=idempotency_keys)
def test_messages_with_any_body_and_headers(app, client, long_term_subscriber, data, api_key, idempotency_key):
    body = data.draw(send_bodies(long_term_subscriber), label="body")
    # api_key None stands for the valid key.
    headers = {"X-Api-Key": API_KEY["X-Api-Key"] if api_key is None else api_key, **idempotency_header(idempotency_key)}
    before = row_counts(app)
    response = client.post("/api/v1/messages", json=body, headers=headers)
    assert_no_partial_write(app, before, response)


@HTTP
@given(raw=raw_bodies, content_type=st.sampled_from(CONTENT_TYPES), idempotency_key=idempotency_keys)
def test_messages_with_any_bytes(app, client, long_term_subscriber, raw, content_type, idempotency_key):
    headers = {**API_KEY, **idempotency_header(idempotency_key)}
    before = row_counts(app)
    response = post_raw(client, "/api/v1/messages", raw, content_type, headers)
    assert_no_partial_write(app, before, response)


@HTTP
@given(message_id=st.text(min_size=1, max_size=200), api_key=st.none() | header_text, valid_key=st.booleans())
@example(message_id="msg_\x00", api_key=None, valid_key=True)
@example(message_id="x" * 1000, api_key=None, valid_key=True)
def test_get_message_with_any_id(client, message_id, api_key, valid_key):
    headers = API_KEY if valid_key else headers_of(**{"X-Api-Key": api_key})
    response = client.get("/api/v1/messages/" + quote(message_id, safe=""), headers=headers)
    assert_error_shape(response)
    # `%2F` is a `/` to the router: an empty segment is merged away with a redirect.
    assert response.status_code in ((308, 401, 404) if "/" in message_id else (401, 404))


# --- specific junk -----------------------------------------------------------------------


def too_big(app) -> bytes:
    return b'{"code": "' + b"x" * app.config["MAX_CONTENT_LENGTH"] + b'"}'


def test_huge_bodies_are_413_and_write_nothing(app, client, user):
    before = row_counts(app)
    assert_error(
        post_raw(client, "/api/v1/auth/login", too_big(app), "application/json"), 413, "request_entity_too_large"
    )
    for path, headers in (("/api/v1/subscriptions", user.auth), ("/api/v1/messages", API_KEY)):
        for extra in ({}, {"Idempotency-Key": "huge"}):
            response = post_raw(client, path, too_big(app), "application/json", {**headers, **extra})
            assert_error(response, 413, "request_entity_too_large")
    assert row_counts(app) == before


@pytest.mark.parametrize("depth", [64, 500, 990, 5000, 200_000])
@pytest.mark.parametrize("idempotency_key", [None, "deep"])
def test_deeply_nested_json_is_400(app, client, long_term_subscriber, depth, idempotency_key):
    deep = "[" * depth + "]" * depth
    headers = headers_of(**{"Idempotency-Key": idempotency_key})
    before = row_counts(app)
    bodies = [
        ("/api/v1/auth/login", {}, deep),
        ("/api/v1/auth/login", {}, f'{{"code": {deep}}}'),
        ("/api/v1/subscriptions", long_term_subscriber.auth, deep),
        ("/api/v1/subscriptions", long_term_subscriber.auth, f'{{"results": {{"{T1}": {deep}}}}}'),
        ("/api/v1/messages", API_KEY, deep),
        (
            "/api/v1/messages",
            API_KEY,
            f'{{"openid": "{long_term_subscriber.openid}", "template_id": "{T_LONG}", '
            f'"data": {{"thing1": {deep}, "phrase2": "到站"}}}}',
        ),
    ]
    for path, auth, raw in bodies:
        response = post_raw(client, path, raw.encode(), "application/json", {**auth, **headers})
        assert_error(response, 400, "invalid_request")
    assert row_counts(app) == before


def test_nesting_up_to_the_limit_is_judged_on_its_merits(client, long_term_subscriber):
    def body(depth: int) -> dict:  # the body and data are two levels, thing1's lists the rest
        value = "x"
        for _ in range(depth - 2):
            value = [value]
        return {"openid": long_term_subscriber.openid, "template_id": T_LONG, "data": {**LONG_DATA, "thing1": value}}

    assert "thing1" in assert_error(send(client, body(MAX_JSON_DEPTH)), 422, "invalid_template_data")
    assert "body" in assert_error(send(client, body(MAX_JSON_DEPTH + 1)), 400, "invalid_request")


@pytest.mark.parametrize(
    ("template_id", "openid"),
    [("tmpl\x00", None), ("模板一", None), ("tmpl-😀", None), (T_LONG, "o\x00"), (T_LONG, "用户"), (T_LONG, "o😀")],
)
def test_unicode_and_nul_in_ids_are_400(app, client, long_term_subscriber, template_id, openid):
    body = {"openid": openid or long_term_subscriber.openid, "template_id": template_id, "data": LONG_DATA}
    before = row_counts(app)
    assert_error(send(client, body), 400, "invalid_request")
    results = {template_id: "accept"} if openid is None else {T1: "accept"}
    response = client.post("/api/v1/subscriptions", json={"results": results}, headers=long_term_subscriber.auth)
    assert response.status_code == (400 if openid is None else 200)
    if openid is None:
        assert row_counts(app) == before


@pytest.mark.parametrize("value", ["Blue\x00kettle", "\x00", "蓝色水壶😀", "\u200b\u200bkettle", "a\x1fb"])
def test_unicode_and_nul_in_values_never_5xx(app, client, long_term_subscriber, value):
    before = row_counts(app)
    response = send(
        client, {"openid": long_term_subscriber.openid, "template_id": T_LONG, "data": {**LONG_DATA, "thing1": value}}
    )
    assert_no_partial_write(app, before, response)
    assert response.status_code in (201, 422)


@pytest.mark.parametrize("field", ["page", "scene"])
def test_nul_in_stored_strings_is_400(app, client, long_term_subscriber, field):
    before = row_counts(app)
    if field == "page":
        response = send(
            client,
            {"openid": long_term_subscriber.openid, "template_id": T_LONG, "data": LONG_DATA, "page": "pages/\x00"},
        )
    else:
        response = client.post(
            "/api/v1/subscriptions",
            json={"results": {T1: "accept"}, "scene": "scene\x00"},
            headers=long_term_subscriber.auth,
        )
    assert field in assert_error(response, 400, "invalid_request")
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/v1/auth/login", '{"code": "\\ud800"}'),
        ("/api/v1/subscriptions", '{"results": {"\\udc00": "accept"}}'),
        ("/api/v1/subscriptions", f'{{"results": {{"{T1}": "accept"}}, "scene": "\\ud800"}}'),
        ("/api/v1/messages", f'{{"openid": "x", "template_id": "{T_LONG}", "data": {{"thing1": "\\ud800"}}}}'),
    ],
)
@pytest.mark.parametrize("idempotency_key", [None, "lone-surrogate"])
def test_lone_surrogates_are_400(app, client, long_term_subscriber, path, raw, idempotency_key):
    raw = raw.replace('"openid": "x"', f'"openid": "{long_term_subscriber.openid}"')
    headers = {**long_term_subscriber.auth, **API_KEY, **headers_of(**{"Idempotency-Key": idempotency_key})}
    before = row_counts(app)
    assert_error(post_raw(client, path, raw.encode(), "application/json", headers), 400, "invalid_request")
    assert row_counts(app) == before


def test_a_surrogate_pair_is_just_an_emoji(client, long_term_subscriber):
    raw = '{"openid": "%s", "template_id": "%s", "data": {"thing1": "\\ud83d\\ude00", "phrase2": "到站"}}'
    raw %= (long_term_subscriber.openid, T_LONG)
    response = post_raw(client, "/api/v1/messages", raw.encode(), "application/json", API_KEY)
    assert response.status_code == 201, response.json


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/auth/login", {"code": 12345}, "code"),
        ("/api/v1/subscriptions", {"results": {T1: "accept"}, "scene": 5}, "scene"),
        ("/api/v1/subscriptions", {"results": {T1: 1}}, "results"),
        ("/api/v1/subscriptions", {"results": {T1: ["accept"]}}, "results"),
        ("/api/v1/subscriptions", {"results": {T1: {"status": "accept"}}}, "results"),
        ("/api/v1/subscriptions", {"results": ["accept"]}, "results"),
        ("/api/v1/messages", {"openid": 12345, "template_id": T_LONG, "data": LONG_DATA}, "openid"),
        ("/api/v1/messages", {"user_id": "1", "template_id": T_LONG, "data": LONG_DATA}, "user_id"),
        ("/api/v1/messages", {"user_id": 1.5, "template_id": T_LONG, "data": LONG_DATA}, "user_id"),
        ("/api/v1/messages", {"user_id": 1, "template_id": 12345, "data": LONG_DATA}, "template_id"),
        ("/api/v1/messages", {"user_id": 1, "template_id": T_LONG, "data": LONG_DATA, "page": 7}, "page"),
    ],
)
def test_numbers_and_objects_where_strings_are_expected_are_400(app, client, user, path, body, field):
    before = row_counts(app)
    details = assert_error(client.post(path, json=body, headers={**user.auth, **API_KEY}), 400, "invalid_request")
    assert field in details
    assert row_counts(app) == before


def test_numbers_as_template_values_are_422(app, client, long_term_subscriber):
    before = row_counts(app)
    body = {"openid": long_term_subscriber.openid, "template_id": T_LONG, "data": {"thing1": 42, "phrase2": 1.5}}
    details = assert_error(send(client, body), 422, "invalid_template_data")
    assert set(details) == {"thing1", "phrase2"}
    assert row_counts(app) == before


def test_ten_thousand_keys(app, client, long_term_subscriber):
    many = {f"thing{n}": "x" for n in range(10_000)}
    before = row_counts(app)
    body = {"openid": long_term_subscriber.openid, "template_id": T_LONG, "data": many}
    assert "data" in assert_error(send(client, body), 422, "invalid_template_data")
    assert "results" in assert_error(
        client.post("/api/v1/subscriptions", json={"results": many}, headers=long_term_subscriber.auth),
        400,
        "invalid_request",
    )
    assert_error(send(client, {**body, "data": LONG_DATA, **many}), 400, "invalid_request")
    assert row_counts(app) == before


@pytest.mark.parametrize(
    ("user_id", "status"),
    [(2**64, 400), (2**63, 400), (2**31, 400), (-(2**63), 400), (0, 400), (-1, 400), (2**31 - 1, 404), (10**400, 400)],
)
def test_user_id_overflow(app, client, long_term_subscriber, user_id, status):
    before = row_counts(app)
    body = {"user_id": user_id, "template_id": T_LONG, "data": LONG_DATA}
    assert_error(send(client, body), status, "invalid_request" if status == 400 else "user_not_found")
    assert row_counts(app) == before


def test_data_that_is_a_list_or_empty_is_422(app, client, long_term_subscriber):
    before = row_counts(app)
    for data in ([LONG_DATA], [], {}, "thing1", None):
        body = {"openid": long_term_subscriber.openid, "template_id": T_LONG, "data": data}
        response = send(client, body)
        assert_error_shape(response)
        assert response.status_code == (400 if data is None else 422)
    assert row_counts(app) == before


def test_idempotency_key_of_1000_chars_is_400(app, client, long_term_subscriber):
    before = row_counts(app)
    body = {"openid": long_term_subscriber.openid, "template_id": T_LONG, "data": LONG_DATA}
    details = assert_error(send(client, body, **{"Idempotency-Key": "k" * 1000}), 400, "invalid_request")
    assert "Idempotency-Key" in details
    report = {"results": {T1: "accept"}}
    headers = {**long_term_subscriber.auth, "Idempotency-Key": "k" * 1000}
    assert_error(client.post("/api/v1/subscriptions", json=report, headers=headers), 400, "invalid_request")
    assert row_counts(app) == before
    assert send(client, body, **{"Idempotency-Key": "k" * MAX_KEY_LENGTH}).status_code == 201


@pytest.mark.parametrize("key", ["\x00", "key\x00", "\x00" * MAX_KEY_LENGTH])
def test_nul_in_idempotency_key_is_400(app, client, long_term_subscriber, key):
    before = row_counts(app)
    body = {"openid": long_term_subscriber.openid, "template_id": T_LONG, "data": LONG_DATA}
    assert "Idempotency-Key" in assert_error(send(client, body, **{"Idempotency-Key": key}), 400, "invalid_request")
    assert row_counts(app) == before


@pytest.mark.parametrize("value", ["Bearer \x00", "Bearer " + "a" * 5000, "Bearer a.b.c", "bearer  ", "\x00"])
def test_junk_authorization_is_401(client, value):
    assert_error(client.get("/api/v1/me", headers={"Authorization": value}), 401, "unauthorized")
    response = client.post("/api/v1/subscriptions", json={"results": {T1: "accept"}}, headers={"Authorization": value})
    assert_error(response, 401, "unauthorized")


@pytest.mark.parametrize(
    "value", ["\x00", "test-api-key\x00", "é" * 300, "".join(ch for ch in string.printable if ch not in "\r\n")]
)
def test_junk_api_key_is_401(client, value):
    assert_error(client.post("/api/v1/messages", json={}, headers={"X-Api-Key": value}), 401, "unauthorized")
