"""Input edges (#23 N7): external_id normalised and printable, send_at strictly ISO 8601, error
details cut to a sane length, and the contract's outcome lists complete in both languages."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from backend.errors import MAX_DETAIL_LENGTH
from backend.states import MessageStatus, Outcome
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, assert_error, send

T1 = ONE_TIME["priTmplId"]
DOCS = Path(__file__).resolve().parents[2] / "docs"


def bind(client, user_id: int, external_id: str):
    return client.put(f"/api/v1/users/{user_id}/external-id", json={"external_id": external_id}, headers=API_KEY)


@pytest.mark.parametrize(
    ("external_id", "reason"),
    [
        ("\u202eEMP-001", "bidi"),  # shows as 100-PME
        ("EMP\u200b-001", "zero-width"),
        ("EMP-001\u2066", "bidi"),
        (" EMP-001", "spaces"),
        ("EMP-001 ", "spaces"),
        ("EMP-001\u3000", "spaces"),  # an ideographic space
        ("EMP\x85001", "control"),  # C1 control
    ],
)
def test_an_external_id_with_invisible_characters_or_surrounding_spaces_is_400(client, user, external_id, reason):
    details = assert_error(bind(client, user.id, external_id), 400, "invalid_request")
    assert reason in details["external_id"]
    recipient = {"external_id": external_id, "template_id": T1, "data": GOOD_DATA}
    details = assert_error(send(client, recipient), 400, "invalid_request")
    assert reason in details["external_id"]
    response = client.get("/api/v1/users", query_string={"external_id": external_id}, headers=API_KEY)
    assert reason in assert_error(response, 400, "invalid_request")["external_id"]


def test_an_external_id_is_stored_in_nfc_so_both_spellings_are_one_id(client, user):
    decomposed, composed = "Jose\u0301-7", "Jos\u00e9-7"
    assert bind(client, user.id, decomposed).status_code == 200
    assert client.get(f"/api/v1/users/{user.id}", headers=API_KEY).json["external_id"] == composed
    found = client.get("/api/v1/users", query_string={"external_id": decomposed}, headers=API_KEY).json
    assert [account["id"] for account in found["users"]] == [user.id]
    assert unicodedata.is_normalized("NFC", found["users"][0]["external_id"])


@pytest.mark.parametrize(
    "send_at",
    [
        "2026-12-24\x0009:00:00+08:00",  # a NUL for the T
        "2026-12-24T09:00:00+08:00\x00",
        "2026-12-24T09:00:00+08:00:30",  # seconds in the offset
        "2026-12-24T09:00:00+08:00:30.5",
        "2026-12-24 09:00:00+08:00",  # a space for the T
        "2026-12-24T09:00:00+0800",  # the basic format
        "2026-12-24T09:00:00+08",
        "20261224T090000Z",
        "2026-W52-4T09:00:00Z",  # a week date
    ],
)
def test_send_at_is_strict_iso_8601(client, user, templates, send_at):
    body = {"openid": user.openid, "template_id": T1, "data": GOOD_DATA, "send_at": send_at}
    details = assert_error(send(client, body), 400, "invalid_request")
    assert "ISO 8601" in details["send_at"]


@pytest.mark.parametrize("send_at", ["2026-12-24T09:00:00+08:00", "2026-12-24T01:00Z", "2026-12-24T01:00:00.250-00:30"])
def test_send_at_in_the_contract_s_form_is_taken(client, user, templates, send_at):
    body = {"openid": user.openid, "template_id": T1, "data": GOOD_DATA, "send_at": send_at}
    response = send(client, body)
    assert response.status_code != 400 or "send_at" not in response.json["error"]["details"], response.json


def test_error_details_are_cut_to_a_sane_length(client, user, templates):
    huge = "k" * 100_000
    body = {"openid": user.openid, "template_id": T1, "data": GOOD_DATA, huge: 1}
    response = send(client, body)
    details = assert_error(response, 400, "invalid_request")
    assert len(response.get_data()) < 2 * MAX_DETAIL_LENGTH + 500
    [key] = details
    assert len(key) == MAX_DETAIL_LENGTH and key.startswith("k" * 100) and key.endswith("…")


@pytest.mark.parametrize("path", ["api.md", "zh-CN/api.md"])
def test_the_contract_lists_every_failure_outcome_wherever_it_lists_them(path):
    """Each list of a failed message's outcomes (a batch's messages, message.failed) is complete."""
    text = (DOCS / path).read_text(encoding="utf-8")
    failures = {outcome.value for outcome in Outcome} - {Outcome.UNKNOWN.value}
    blocks = [
        line for block in text.split("\n\n") for line in (block.split("\n") if block.startswith("|") else [block])
    ]
    lists = [block for block in blocks if "`consent_revoked`" in block and "`wechat_unavailable`" in block]
    assert len(lists) >= 2, "the batch messages' outcomes and message.failed"
    for block in lists:
        named = set(re.findall(r"`([a-z_]+)`", block))
        assert failures <= named, (sorted(failures - named), block[:120])
    assert MessageStatus.FAILED.value not in failures
