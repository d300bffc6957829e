"""The keyword value rules (docs/wechat.md §4), on check_value and through subscribe/send's 47003."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.wechat.keyword_rules import (
    KNOWN_TYPES,
    LIMITS,
    check_value,
    keyword_type,
    truncate_value,
)
from tests.wxemu.samples import RID
from wxemu.rules import value_problem

ENUM_VALUES = ["快递", "自提"]

# (type, value, valid?): for every rule a value just inside and just outside each limit.
CASES: list[tuple[str, str, bool]] = [
    ("thing", "一" * 20, True),
    ("thing", "一" * 21, False),
    ("thing", "a" * 20, True),
    ("thing", "a" * 21, False),
    ("thing", "Order #12 已发货!", True),
    ("number", "1" * 32, True),
    ("number", "1" * 33, False),
    ("number", "-3.14", True),
    ("number", "12a", False),
    ("number", "1.2.3", False),
    ("number", "1e5", False),
    ("number", "一", False),
    ("letter", "a" * 32, True),
    ("letter", "a" * 33, False),
    ("letter", "abc1", False),
    ("letter", "ab cd", False),
    ("letter", "中文", False),
    ("symbol", "#" * 5, True),
    ("symbol", "#" * 6, False),
    ("symbol", "+-*/%", True),
    ("symbol", "#a", False),
    ("symbol", "#1", False),
    ("symbol", "#中", False),
    ("symbol", "# #", False),
    ("character_string", "A" * 31 + "-", True),
    ("character_string", "A" * 33, False),
    ("character_string", "ORDER-2019_10#01", True),
    ("character_string", "订单1", False),
    ("character_string", "A B", False),
    ("time", "15:01", True),
    ("time", "9:05", True),
    ("time", "23:59:59", True),
    ("time", "2019年10月1日 15:01", True),
    ("time", "2019年10月1日15:01", True),
    ("time", "2019-10-01 15:01", True),
    ("time", "2019/10/01 15:01:30", True),
    ("time", "2019.10.01 15:01", True),
    ("time", "15:01~16:30", True),
    ("time", "2019年10月1日 15:01 ~ 2019年10月1日 16:30", True),
    ("time", "25:00", False),
    ("time", "24:00", False),
    ("time", "15:60", False),
    ("time", "15:01:60", False),
    ("time", "2019-13-01 15:01", False),
    ("time", "2019年10月1日", False),
    ("time", "15:01~16:00~17:00", False),
    ("time", "3pm", False),
    # HH:MM and HH:MM:SS (docs/wechat.md §10), alone and after each date format.
    ("time", "00:00", True),
    ("time", "00:00:00", True),
    ("time", "15:01:30", True),
    ("time", "15:01:3", False),
    ("time", "15:1", False),
    ("time", "1501", False),
    ("time", "15:01:30:00", False),
    ("time", "23:60:00", False),
    ("time", "15:01:30~16:00:00", True),
    ("time", "10月1日 15:01", True),
    ("time", "2019年10月 15:01:30", True),
    ("time", "10-01 15:01", True),
    ("time", "2019.10 15:01", True),
    ("time", "13-01 15:01", False),
    ("time", "10月1日", False),
    ("time", "2019-10", False),
    # No line breaks or other control characters, in any type ("不能带有换行等控制字符").
    ("time", "15:01\n", False),
    ("date", "2018-01-01\r", False),
    ("thing", "第一行\n第二行", False),
    ("thing", "tab\there", False),
    ("thing", "a\u2028b", False),
    ("thing", "bell\x07", False),
    ("thing", "del\x7f", False),
    ("character_string", "AB\x00C", False),
    ("name", "张\x1b三", False),
    ("phrase", "配送\x85中", False),
    ("enum", "快递\n", False),
    ("date", "2019年10月1日", True),
    ("date", "2019-10-01", True),
    ("date", "2019/10/01", True),
    ("date", "2019.10.01", True),
    ("date", "2019年10月1日 15:01", True),
    ("date", "2019-10-01~2019-10-07", True),
    ("date", "2019-10-01 08:00 ~ 2019-10-01 09:40", True),
    ("date", "2019-10-32", False),
    ("date", "2019-00-10", False),
    ("date", "2019-10-01 24:00", False),
    ("date", "15:01", False),
    # The date formats of docs/wechat.md §10, each inside and just outside.
    ("date", "2018年1月1日", True),
    ("date", "2018年1月1", False),
    ("date", "2018年1月", True),
    ("date", "2018年13月", False),
    ("date", "2018年", False),
    ("date", "1月1日", True),
    ("date", "10月1日", True),
    ("date", "13月1日", False),
    ("date", "1月32日", False),
    ("date", "1月", False),
    ("date", "2018-01-01", True),
    ("date", "2018-1-1", True),
    ("date", "18-01-01", False),
    ("date", "2018/01/01", True),
    ("date", "2018/02/30", True),  # days are checked against 31, not against the month
    ("date", "2018/01/32", False),
    ("date", "2018.01.01", True),
    ("date", "2018.13.01", False),
    ("date", "2018-01/01", False),  # one separator, not two kinds
    ("date", "2018_01_01", False),
    ("date", "2018-01", True),
    ("date", "2018/01", True),
    ("date", "2018-13", False),
    ("date", "2018", False),
    ("date", "01-01", True),
    ("date", "12.31", True),
    ("date", "13-01", False),
    ("date", "01-32", False),
    ("date", "001-01", False),
    ("date", "2018-01 08:00", True),
    ("date", "01-01 08:00:30", True),
    ("date", "1月1日~1月7日", True),
    ("date", "2018-01~2018-03", True),
    ("date", "2018-01-01 15:01:60", False),
    ("amount", "¥1234567890", True),
    ("amount", "¥12345678901", False),
    ("amount", "¥12345678.90", True),
    ("amount", "¥123456789.01", False),
    ("amount", "￥100.00元", True),
    ("amount", "100元", True),
    ("amount", "$5", True),
    ("amount", "€5.5", True),
    ("amount", "¥$5", False),
    ("amount", "¥1.2.3", False),
    ("amount", "¥abc", False),
    ("phone_number", "+86-0766-66888866", True),
    ("phone_number", "1" * 17, True),
    ("phone_number", "1" * 18, False),
    ("phone_number", "+86-0766-668888669", False),
    ("phone_number", "138abc", False),
    ("car_number", "粤A8Z888挂", True),
    ("car_number", "粤AD12345", True),
    ("car_number", "粤AD123456", False),
    ("car_number", "粤A中888", False),
    ("car_number", "粤A-8888", False),
    ("name", "张" * 10, True),
    ("name", "张" * 11, False),
    ("name", "a" * 20, True),
    ("name", "a" * 21, False),
    ("name", "John O'Neil", True),
    ("name", "张三abc", True),
    ("name", "张三" + "a" * 8, True),
    ("name", "张三" + "a" * 9, False),
    ("name", "张三3", False),
    ("name", "Bob2", False),
    ("phrase", "配送中", True),
    ("phrase", "一二三四五", True),
    ("phrase", "一二三四五六", False),
    ("phrase", "配送a", False),
    ("phrase", "配送 中", False),
    ("enum", "快递", True),
    ("enum", "自提", True),
    ("enum", "邮寄", False),
]

# The key a template uses for each type (enum keys look like `enum_string2`).
KEYS = {kind: f"{kind}1" for kind in KNOWN_TYPES} | {"enum": "enum_string1"}


def _case_id(case: tuple[str, str, bool]) -> str:
    kind, value, ok = case
    return f"{kind}-{'ok' if ok else 'bad'}-{value[:12]}-{len(value)}"


# --- keyword_type ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("thing3", "thing"),
        ("thing01", "thing"),
        ("character_string13", "character_string"),
        ("phone_number2", "phone_number"),
        ("car_number1", "car_number"),
        ("enum_string2", "enum"),
        ("time15", "time"),
        ("amount8", "amount"),
        ("keyword1", "keyword"),
    ],
)
def test_keyword_type(key, kind):
    assert keyword_type(key) == kind


def test_known_types_and_limits():
    assert {"thing", "time", "date", "amount", "enum", "phrase", "name"} <= KNOWN_TYPES
    assert LIMITS == {
        "thing": 20,
        "number": 32,
        "letter": 32,
        "symbol": 5,
        "character_string": 32,
        "phone_number": 17,
        "car_number": 8,
        "name": 20,
        "phrase": 5,
    }


# --- check_value --------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_check_value(case):
    kind, value, ok = case
    enums = ENUM_VALUES if kind == "enum" else None
    reason = check_value(kind, value, enums)
    if ok:
        assert reason is None
    else:
        assert isinstance(reason, str) and reason and reason != "is empty"


@pytest.mark.parametrize("kind", sorted(KNOWN_TYPES | {"keyword"}))
@pytest.mark.parametrize("value", ["", "   ", "\u3000"])
def test_empty_is_refused_for_every_type(kind, value):
    assert check_value(kind, value, ENUM_VALUES) == "is empty"


def test_reasons_are_human():
    assert check_value("thing", "a" * 21) == "longer than 20 characters"
    assert check_value("name", "张" * 11) == "longer than 10 characters"
    assert check_value("number", "12a") == "must be digits"
    assert check_value("enum", "x", ["a"]) == "not one of the template's enum values"


def test_unknown_type_only_checks_emptiness():
    assert check_value("keyword", "anything at all, even longer than twenty characters") is None


def test_enum_without_known_values_accepts_any_non_empty_value():
    assert check_value("enum", "whatever") is None


def test_non_string_value_is_refused():
    assert check_value("thing", 123) == "must be a string"  # type: ignore[arg-type]


# --- truncate_value ----------------------------------------------------------------


def test_truncate_thing():
    assert truncate_value("thing", "一" * 25) == "一" * 19 + "…"
    assert truncate_value("thing", "一" * 20) == "一" * 20


def test_truncate_name_uses_the_cjk_limit():
    assert truncate_value("name", "张" * 12) == "张" * 9 + "…"
    assert truncate_value("name", "a" * 25) == "a" * 19 + "…"


def test_truncate_letter_cuts_without_ellipsis():
    assert truncate_value("letter", "a" * 40) == "a" * 32  # `…` is not a letter


def test_truncate_leaves_other_types_alone():
    assert truncate_value("number", "1" * 40) == "1" * 40
    assert truncate_value("phrase", "一二三四五六") == "一二三四五六"


# --- properties -----------------------------------------------------------------------


@given(
    kind=st.sampled_from(sorted(KNOWN_TYPES | {"keyword", "enum_string"})),
    value=st.text(),
    enums=st.none() | st.lists(st.text(), max_size=3),
)
def test_check_value_never_raises(kind, value, enums):
    reason = check_value(kind, value, enums)
    assert reason is None or isinstance(reason, str)


@given(kind=st.sampled_from(["thing", "name", "character_string", "letter"]), value=st.text())
def test_truncated_values_pass_the_length_rule(kind, value):
    reason = check_value(kind, truncate_value(kind, value))
    assert reason is None or not reason.startswith("longer than")


@given(value=st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1).filter(str.strip))
def test_truncated_thing_is_always_valid(value):
    assert check_value("thing", truncate_value("thing", value)) is None


@given(value=st.text(alphabet=string.ascii_letters, min_size=1))
def test_truncated_letters_are_always_valid(value):
    assert check_value("letter", truncate_value("letter", value)) is None


# --- the backend's rules against the emulator's own reading of the table ---------------

# Characters that matter to some rule: digits, letters, Chinese, the date and time signs,
# currency, spaces, control characters, and a few others.
_MOMENT = r"[0-9]{1,4}[-/.年][0-9]{1,2}[-/.月]?[0-9]{0,2}日?( ?[0-9]{1,2}:[0-9]{2}(:[0-9]{2})?)?"
_RULE_ALPHABET = "0123456789aZ张〇年月日:-/.~～ ¥元+#'\n\t\x00\u3000é١"


@given(
    kind=st.sampled_from(sorted(KNOWN_TYPES)),
    value=st.text(alphabet=_RULE_ALPHABET, min_size=1, max_size=40) | st.from_regex(_MOMENT, fullmatch=True),
)
def test_backend_and_emulator_agree(kind, value):
    """The backend refuses exactly what the emulator, written apart from it, answers 47003 to."""
    key = KEYS[kind]
    backend_ok = check_value(kind, value, ENUM_VALUES) is None
    assert backend_ok == (value_problem(key, value, ENUM_VALUES) is None), (kind, value)


# --- through the emulator's subscribe/send --------------------------------------------


@pytest.fixture
def long_term_user(make_user, make_template, accept):
    """A user who accepted one long-term template per type, so valid sends succeed."""
    openid = make_user()
    templates = {}
    for kind, key in KEYS.items():
        templates[kind] = make_template(
            priTmplId=f"tmpl-{kind}",
            type=3,
            keywords=[{"key": key, "name": kind}],
            enums={key: ENUM_VALUES} if kind == "enum" else None,
        )
        accept(openid, templates[kind])
    return openid, templates


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_send_applies_the_rule(case, long_term_user, send):
    kind, value, ok = case
    openid, templates = long_term_user
    key = KEYS[kind]
    reply = send(touser=openid, template_id=templates[kind], data={key: {"value": value}})
    if ok:
        assert reply["errcode"] == 0, reply
    else:
        assert reply["errcode"] == 47003
        assert re.fullmatch(rf"argument invalid! data\.{key}\.value invalid{RID}", reply["errmsg"])


@pytest.mark.parametrize("kind", sorted(KNOWN_TYPES))
def test_send_refuses_empty_values(kind, long_term_user, send):
    openid, templates = long_term_user
    key = KEYS[kind]
    reply = send(touser=openid, template_id=templates[kind], data={key: {"value": " "}})
    assert reply["errcode"] == 47003
    assert re.fullmatch(rf"argument invalid! data\.{key}\.value is empty{RID}", reply["errmsg"])
