"""No log line carries a phone number, a session key or a whole openid (docs/operations.md, "Logs").

The last test of the run reads every line the suite logged (tests/personal_data.py collects them
from the start) and looks for every openid, phone number and session key the emulator handed out.
Run alone it has little to read; under the whole suite it reads everything.
"""

from __future__ import annotations

import json
import logging

import pytest

from backend.ops.logs import JsonFormatter, cut_openid
from tests import personal_data
from tests.api.test_recipients import share_phone
from tests.helpers import log_in

OPENID = "oAbCdE1234567890fghijKLMNOPq"  # 28 characters, as WeChat's


def test_an_openid_is_cut_to_its_first_6_and_last_4_characters():
    assert cut_openid(OPENID) == "oAbCdE…NOPq"
    assert cut_openid(cut_openid(OPENID)) == "oAbCdE…NOPq"  # cut once
    assert cut_openid("o-short") == "o-…"
    assert cut_openid(None) is None


def test_the_formatter_cuts_openids_and_hides_phone_numbers_and_session_keys_whatever_the_caller_passed():
    record = logging.makeLogRecord(
        {"name": "backend.x", "msg": "user", "openid": OPENID, "phone_number": "13800138000", "session_key": "k=="}
    )
    line = json.loads(JsonFormatter().format(record))
    assert (line["openid"], line["phone_number"], line["session_key"]) == ("oAbCdE…NOPq", "***", "***")


def test_a_whole_openid_logged_anywhere_is_found(app, client, emulator):
    user = log_in(client, emulator, openid=OPENID)
    share_phone(client, emulator, user, "13900139000")
    before = len(personal_data.lines)
    logging.getLogger("backend.somewhere").warning("sent to %s", OPENID)
    logging.getLogger("backend.somewhere").warning("phone", extra={"who": "13900139000"})
    logged = personal_data.lines[before:]
    del personal_data.lines[before:]  # logged on purpose: not for the run's check below
    found = personal_data.findings(logged, personal_data.openids, personal_data.phones, [])
    assert {(what, value) for what, value, _ in found} == {("whole openid", OPENID), ("phone number", "13900139000")}


def test_a_session_key_the_emulator_handed_out_is_known(client, emulator):
    log_in(client, emulator)
    [call] = emulator.calls("jscode2session")
    assert call["session_key"]  # the emulator fixture adds it to personal_data.session_keys at teardown


@pytest.mark.after_all_others
def test_no_line_the_whole_run_logged_carries_personal_data():
    found = personal_data.findings(
        personal_data.lines, personal_data.openids, personal_data.phones, personal_data.session_keys
    )
    shown = "\n".join(f"{what} {value!r} in: {line[:300]}" for what, value, line in found[:20])
    assert not found, f"{len(found)} log lines carry personal data:\n{shown}"
