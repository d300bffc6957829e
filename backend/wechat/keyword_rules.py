"""Subscribe-message keyword value rules (docs/wechat.md §4, "订阅消息参数值内容限制说明").

A keyword's type comes from its key's prefix (`thing3` is a `thing`). WeChat answers
47003 when a value breaks its type's rule; the backend checks first, to refuse before
spending a credit, so these checks refuse only what WeChat surely refuses: every explicit
limit of the table (and of §10's format notes) is enforced, anything left open is accepted.
The emulator has its own reading of the table (wxemu/rules.py): a rule here
that lets through what WeChat refuses shows up as a 47003 in the tests.

All checks run on the value with surrounding whitespace stripped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

__all__ = [
    "CJK_NAME_LIMIT",
    "KNOWN_TYPES",
    "LIMITS",
    "check_value",
    "keyword_type",
    "truncate_value",
]

#: Maximum length in characters of the types that have one. For `name` this is the
#: limit of a name without Chinese characters; a name with any is limited to
#: CJK_NAME_LIMIT.
LIMITS: dict[str, int] = {
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
CJK_NAME_LIMIT = 10
AMOUNT_MAX_DIGITS = 10

KNOWN_TYPES: frozenset[str] = frozenset(
    {*LIMITS, "time", "date", "amount", "enum"},
)

# Key prefixes that differ from their rule name: enum keys look like `enum_string2`.
_PREFIX_ALIASES = {"enum_string": "enum"}

# Types whose over-long values may be shortened instead of refused.
_TRUNCATABLE = frozenset({"thing", "name", "character_string", "letter"})
ELLIPSIS = "…"

_CJK_RANGES = (
    (0x3400, 0x4DBF),  # Extension A
    (0x4E00, 0x9FFF),  # Unified Ideographs
    (0xF900, 0xFAFF),  # Compatibility Ideographs
    (0x20000, 0x3134F),  # Extensions B-G
)
_ASCII_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_LETTERS = re.compile(r"[A-Za-z]+")
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_AMOUNT_BODY = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)

# Dates (docs/wechat.md §10): y年m月d日, y年m月, m月d日, or joined by one of - / . (the same one
# twice): 2018-01-01, 2018/01/01, 2018.01.01, 2018-01, 01-01. Times: HH:MM or HH:MM:SS.
_DATE = (
    r"(?:\d{4}年(?P<m1>\d{1,2})月(?:(?P<d1>\d{1,2})日)?"
    r"|(?P<m2>\d{1,2})月(?P<d2>\d{1,2})日"
    r"|\d{4}(?P<sep>[-/.])(?P<m3>\d{1,2})(?:(?P=sep)(?P<d3>\d{1,2}))?"
    r"|(?P<m4>\d{1,2})[-/.](?P<d4>\d{1,2}))"
)
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?"
_POINT = re.compile(rf"(?P<date>{_DATE})?\s*(?P<time>{_TIME})?", re.ASCII)
# "不能带有换行等控制字符": no value may hold a line break or another control character.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_RANGE_SEP = re.compile(r"\s*[~～]\s*")


def keyword_type(key: str) -> str:
    """The rule name of a keyword key: `thing3` → `thing`, `enum_string2` → `enum`.

    Unknown prefixes come back as they are (`keyword1` → `keyword`).
    """
    prefix = key.rstrip("0123456789")
    return _PREFIX_ALIASES.get(prefix, prefix)


def check_value(kind: str, value: str, enum_values: Sequence[str] | None = None) -> str | None:
    """None when `value` is valid for keyword type `kind`, else a short reason.

    Unknown types get only the empty check. For `enum`, `enum_values` lists the
    template's allowed values; None accepts any non-empty value.
    """
    if not isinstance(value, str):
        return "must be a string"
    text = value.strip()
    if not text:
        return "is empty"
    if _CONTROL.search(value):
        return "must not contain line breaks or other control characters"
    if kind == "enum":
        return _check_enum(value, enum_values)
    checker = _CHECKERS.get(kind)
    return checker(text) if checker else None


def truncate_value(kind: str, value: str) -> str:
    """Shorten an over-long free-text value to its type's limit, ending in `…`.

    Only `thing`, `name`, `character_string` and `letter` are shortened; other
    values come back unchanged. A `letter` value is cut without `…`, which is not
    a letter and would make the value invalid.
    """
    if kind not in _TRUNCATABLE or not isinstance(value, str):
        return value
    text = value.strip()
    limit = _length_limit(kind, text)
    if len(text) <= limit:
        return value
    if kind == "letter":
        return text[:limit]
    return text[: limit - 1] + ELLIPSIS


# --- character classes -------------------------------------------------------


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return ch == "〇" or any(lo <= code <= hi for lo, hi in _CJK_RANGES)


def _is_symbol(ch: str) -> bool:
    """Not a letter, digit, Chinese character or whitespace: punctuation, signs, marks."""
    return not (ch.isalnum() or ch.isspace() or _is_cjk(ch))


def _is_currency(ch: str) -> bool:
    return unicodedata.category(ch) == "Sc"  # ¥ ￥ $ € £ ₩ ₹ ...


def _length_limit(kind: str, text: str) -> int:
    if kind == "name" and any(_is_cjk(ch) for ch in text):
        return CJK_NAME_LIMIT  # Chinese mixed with letters counts as Chinese
    return LIMITS[kind]


def _too_long(kind: str, text: str) -> str | None:
    limit = _length_limit(kind, text)
    return f"longer than {limit} characters" if len(text) > limit else None


# --- one check per type ------------------------------------------------------


def _check_thing(text: str) -> str | None:
    return _too_long("thing", text)  # Chinese, digits, letters or symbols: anything


def _check_number(text: str) -> str | None:
    if not _NUMBER.fullmatch(text):
        return "must be digits"
    return _too_long("number", text)


def _check_letter(text: str) -> str | None:
    if not _ASCII_LETTERS.fullmatch(text):
        return "must be letters only"
    return _too_long("letter", text)


def _check_symbol(text: str) -> str | None:
    if not all(_is_symbol(ch) for ch in text):
        return "must be symbols only"
    return _too_long("symbol", text)


def _check_character_string(text: str) -> str | None:
    if not all(ch in _ASCII_ALNUM or _is_symbol(ch) for ch in text):
        return "must be ASCII letters, digits or symbols"
    return _too_long("character_string", text)


def _check_time(text: str) -> str | None:
    if not _check_points(text, need="time"):
        return "not a 24-hour time (e.g. 15:01, 15:01:30 or 2019年10月1日 15:01)"
    return None


def _check_date(text: str) -> str | None:
    if not _check_points(text, need="date"):
        return "not a date (e.g. 2019年10月1日, 2019-10-01, 10月1日 or 2019-10-01 15:01)"
    return None


def _check_amount(text: str) -> str | None:
    body = text.removesuffix("元")
    if body and _is_currency(body[0]):
        body = body[1:]  # one currency symbol; a second one fails the digits match below
    if not _AMOUNT_BODY.fullmatch(body):
        return "not an amount (one currency symbol, digits, optional 元)"
    if sum(ch.isdigit() for ch in body) > AMOUNT_MAX_DIGITS:
        return f"more than {AMOUNT_MAX_DIGITS} digits"
    return None


def _check_phone_number(text: str) -> str | None:
    # Spaces are tolerated: the table doesn't say WeChat refuses them.
    if not all(ch in "0123456789 " or _is_symbol(ch) for ch in text):
        return "must be digits and symbols"
    return _too_long("phone_number", text)


def _check_car_number(text: str) -> str | None:
    if len(text) > LIMITS["car_number"]:
        return _too_long("car_number", text)
    inner = text[1:] if _is_cjk(text[0]) else text  # province, e.g. 粤
    inner = inner[:-1] if inner and _is_cjk(inner[-1]) else inner  # suffix, e.g. 挂 or 学
    if not all(ch in _ASCII_ALNUM for ch in inner):
        return "not a licence plate (letters and digits, Chinese only first or last)"
    return None


def _check_name(text: str) -> str | None:
    if any(ch.isdigit() for ch in text):
        return "must not contain digits"
    if not all(ch.isalpha() or ch.isspace() or _is_symbol(ch) for ch in text):
        return "must be Chinese characters, or letters and symbols"
    return _too_long("name", text)


def _check_phrase(text: str) -> str | None:
    if not all(_is_cjk(ch) for ch in text):
        return "must be Chinese characters only"
    return _too_long("phrase", text)


def _check_enum(value: str, enum_values: Sequence[str] | None) -> str | None:
    if enum_values is None or value in enum_values or value.strip() in enum_values:
        return None
    return "not one of the template's enum values"


_CHECKERS: dict[str, Callable[[str], str | None]] = {
    "thing": _check_thing,
    "number": _check_number,
    "letter": _check_letter,
    "symbol": _check_symbol,
    "character_string": _check_character_string,
    "time": _check_time,
    "date": _check_date,
    "amount": _check_amount,
    "phone_number": _check_phone_number,
    "car_number": _check_car_number,
    "name": _check_name,
    "phrase": _check_phrase,
}


# --- dates and times ---------------------------------------------------------


def _check_points(text: str, need: str) -> bool:
    """A point in time, or a range of two joined by `~`; each must have a `need` part."""
    parts = _RANGE_SEP.split(text)
    return len(parts) <= 2 and all(_valid_point(part, need) for part in parts)


def _valid_point(text: str, need: str) -> bool:
    match = _POINT.fullmatch(text)
    if not match or not match.group(need):
        return False
    time = match.group("time")
    return (match.group("date") is None or _valid_date(match)) and (time is None or _valid_time(time))


def _valid_date(match: re.Match) -> bool:
    """Month 1-12 and day 1-31, whichever of the date forms matched (a year-month has no day)."""
    month = next(int(match[f"m{i}"]) for i in range(1, 5) if match[f"m{i}"])
    day = next((int(match[f"d{i}"]) for i in range(1, 5) if match[f"d{i}"]), 1)
    return 1 <= month <= 12 and 1 <= day <= 31


def _valid_time(text: str) -> bool:
    hour, *rest = (int(n) for n in text.split(":"))
    return 0 <= hour <= 23 and all(0 <= n <= 59 for n in rest)
