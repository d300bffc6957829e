"""The backend's keyword value rules (backend/wechat/keyword_rules.py), as pure functions.

tests/emulator (tests/wxemu) holds the table of limits checked against the emulator's own
reading of WeChat's rules; these are the rules' other duties: the type from the key, what
truncation may change, and the refusals that come before any type.
"""

from __future__ import annotations

import pytest

from backend.wechat.keyword_rules import LIMITS, check_value, keyword_type, truncate_value


@pytest.mark.parametrize(
    ("key", "kind"),
    [("thing3", "thing"), ("time12", "time"), ("enum_string2", "enum"), ("keyword1", "keyword"), ("amount", "amount")],
)
def test_the_type_is_the_keys_prefix(key, kind):
    assert keyword_type(key) == kind


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_an_empty_value_is_refused_whatever_the_type(value):
    assert check_value("thing", value) == "is empty"
    assert check_value("keyword", value) == "is empty"  # an unknown type still needs a value


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\u2028b", "a\x00b"])
def test_control_characters_are_refused(value):
    assert "control characters" in check_value("thing", value)


def test_a_value_that_is_not_text_is_refused():
    assert check_value("number", 12) == "must be a string"


def test_enum_values_are_checked_when_the_template_lists_them():
    assert check_value("enum", "快递", ["快递", "自提"]) is None
    assert check_value("enum", "闪送", ["快递", "自提"]) is not None
    assert check_value("enum", "闪送", None) is None  # no list: any non-empty value


@pytest.mark.parametrize("kind", ["thing", "name", "character_string"])
def test_truncation_ends_in_an_ellipsis_within_the_limit(kind):
    shortened = truncate_value(kind, "x" * 50)
    assert len(shortened) == LIMITS[kind] and shortened.endswith("…")
    assert check_value(kind, shortened) is None


def test_letters_are_cut_without_an_ellipsis_which_is_no_letter():
    shortened = truncate_value("letter", "abc" * 20)
    assert shortened == ("abc" * 20)[: LIMITS["letter"]] and check_value("letter", shortened) is None


@pytest.mark.parametrize(("kind", "value"), [("number", "1" * 50), ("time", "15:01"), ("thing", "short")])
def test_what_may_not_be_shortened_comes_back_unchanged(kind, value):
    assert truncate_value(kind, value) == value
