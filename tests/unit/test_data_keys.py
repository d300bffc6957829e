"""Sealing at rest: round trips, rotation, tampering, look-up hashes, and the config check."""

import base64
import os

import pytest

from backend.config import load_config
from backend.infra.data_keys import DataKeyError, DataKeys, new_key_text, parse_key
from backend.settings import ConfigError

KEY_A = bytes(range(32))
KEY_B = bytes(range(32, 64))


def test_a_sealed_value_opens_and_never_holds_the_clear_text():
    keys = DataKeys(KEY_A)
    sealed = keys.seal("+8613800138000")
    assert "13800138000" not in sealed
    assert keys.open(sealed) == "+8613800138000"
    assert keys.seal("same") != keys.seal("same")  # a fresh nonce each time


def test_an_old_key_still_opens_and_marks_the_value_for_rotation():
    sealed_before = DataKeys(KEY_A).seal("session-key")
    rotated = DataKeys(KEY_B, old=(KEY_A,))
    assert rotated.open(sealed_before) == "session-key"
    assert rotated.needs_rotation(sealed_before)
    assert not rotated.needs_rotation(rotated.seal("session-key"))
    assert rotated.lookup_hash("x") != DataKeys(KEY_A).lookup_hash("x")
    assert DataKeys(KEY_A).lookup_hash("x") in list(rotated.old_lookup_hashes("x"))


def test_an_unknown_key_or_a_tampered_value_is_refused():
    sealed = DataKeys(KEY_A).seal("secret")
    with pytest.raises(DataKeyError, match="neither DATA_KEY"):
        DataKeys(KEY_B).open(sealed)
    tampered = sealed[:-2] + ("AA" if sealed[-2:] != "AA" else "BB")
    with pytest.raises(DataKeyError):
        DataKeys(KEY_A).open(tampered)
    with pytest.raises(DataKeyError):
        DataKeys(KEY_A).open("not sealed")


def test_keys_are_32_bytes_of_base64():
    assert len(parse_key(new_key_text())) == 32
    assert parse_key(base64.urlsafe_b64encode(KEY_A).decode().rstrip("=")) == KEY_A
    with pytest.raises(DataKeyError, match="16 bytes"):
        parse_key(base64.b64encode(os.urandom(16)).decode())
    with pytest.raises(DataKeyError, match="not base64"):
        parse_key("***")


def test_a_malformed_data_key_stops_start_up_without_echoing_it(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config({"DATA_KEY": "c2hvcnQ="}, instance_path=str(tmp_path))
    assert "DATA_KEY" in str(caught.value) and "c2hvcnQ=" not in str(caught.value)
    config = load_config({"DATA_KEY": new_key_text()}, instance_path=str(tmp_path))
    assert DataKeys.from_config(config).open(DataKeys.from_config(config).seal("x")) == "x"
