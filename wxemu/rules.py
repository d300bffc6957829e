"""WeChat's value rules for subscribe-message data, as the emulator applies them.

Written from docs/wechat.md §4's value table and §10's format notes, apart from the backend's
own validator on purpose: the emulator is the witness, so a wrong rule in the backend
shows up as a 47003 here. Where the table is silent (a space in a phone number, a minus
sign on a number, `～` for `~`) the value is accepted: only what the table forbids is refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f〇]")

# Dates (§10): y年m月d日, y年m月, m月d日, or the same three joined by one of - / .
_Y, _M, _D = r"(?P<y>[0-9]{4})", r"(?P<m>[0-9]{1,2})", r"(?P<d>[0-9]{1,2})"
_DATE_FORMS = [
    re.compile(f"{_Y}年{_M}月{_D}日"),
    re.compile(f"{_Y}年{_M}月"),
    re.compile(f"{_M}月{_D}日"),
    *(re.compile(f"{_Y}{sep}{_M}{sep}{_D}") for sep in (r"-", r"/", r"\.")),
    *(re.compile(f"{_Y}{sep}{_M}") for sep in (r"-", r"/", r"\.")),
    *(re.compile(f"{_M}{sep}{_D}") for sep in (r"-", r"/", r"\.")),
]
# Times (§10): HH:MM or HH:MM:SS, 24-hour.
_TIME = re.compile(r"(?P<h>[0-9]{1,2}):(?P<mi>[0-9]{2})(?::(?P<s>[0-9]{2}))?")
_LONGEST_TIME = len("23:59:59")
_RANGE = re.compile(r"\s*[~～]\s*")
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")

EXAMPLES: dict[str, str] = {
    "thing": "示例内容",
    "number": "100",
    "letter": "ABC",
    "symbol": "#",
    "character_string": "A20191001001",
    "time": "2019年10月1日 15:01",
    "date": "2019年10月1日",
    "amount": "¥100.00",
    "phone_number": "+86-0766-66888866",
    "car_number": "粤A8Z888",
    "name": "张三",
    "phrase": "配送中",
}


def rule_of(key: str) -> str:
    """The rule a key's prefix names ("每个模板参数都会以类型为前缀"): `thing3` → thing.

    Enum keys read `enum_string2` in real templates.
    """
    prefix = key.rstrip("0123456789")
    return "enum" if prefix == "enum_string" else prefix


def value_problem(key: str, value: str, enum_values: Sequence[str] | None) -> str | None:
    """None when WeChat takes `value` for `key`; "is empty" or "invalid" (its two 47003 wordings)."""
    text = value.strip()
    if not text:
        return "is empty"
    # "不能带有换行等控制字符": no line breaks or other control characters, in any type.
    if any(unicodedata.category(ch) == "Cc" or ch in "\u2028\u2029" for ch in value):
        return "invalid"
    rule = rule_of(key)
    if rule == "enum":
        ok = enum_values is None or text in enum_values
    else:
        check = _RULES.get(rule)
        ok = check is None or check(text)  # an unknown rule: only emptiness is checked
    return None if ok else "invalid"


# --- character classes ---------------------------------------------------------------


def _han(ch: str) -> bool:
    return bool(_HAN.fullmatch(ch))


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def _digit(ch: str) -> bool:
    return ch in "0123456789"


def _symbol(ch: str) -> bool:
    """ "符号表示除中文、英文、数字外的常见符号": anything but Chinese, letters, digits and spaces."""
    category = unicodedata.category(ch)
    return not (_han(ch) or category[0] in "LNZ" or category == "Cc")


# --- the table, one rule each -----------------------------------------------------


def _thing(text: str) -> bool:
    return len(text) <= 20  # Chinese, digits, letters or symbols: any of them


def _number(text: str) -> bool:
    return len(text) <= 32 and bool(_DECIMAL.fullmatch(text.removeprefix("-")))


def _letter(text: str) -> bool:
    return len(text) <= 32 and all(_latin(ch) for ch in text)


def _symbols(text: str) -> bool:
    return len(text) <= 5 and all(_symbol(ch) for ch in text)


def _character_string(text: str) -> bool:
    return len(text) <= 32 and all(_latin(ch) or _digit(ch) or _symbol(ch) for ch in text)


def _amount(text: str) -> bool:
    body = text.removesuffix("元")
    if body[:1] and unicodedata.category(body[0]) == "Sc":
        body = body[1:]
    return bool(_DECIMAL.fullmatch(body)) and sum(map(_digit, body)) <= 10


def _phone_number(text: str) -> bool:
    return len(text) <= 17 and all(_digit(ch) or _symbol(ch) or ch == " " for ch in text)


def _car_number(text: str) -> bool:
    if len(text) > 8:
        return False
    middle = text[1:] if _han(text[0]) else text
    middle = middle[:-1] if middle and _han(middle[-1]) else middle
    return all(_latin(ch) or _digit(ch) for ch in middle)


def _name(text: str) -> bool:
    """≤10 Chinese characters, or ≤20 letters and symbols; mixed with letters it counts as Chinese."""
    if not all(ch.isalpha() or _symbol(ch) or unicodedata.category(ch) == "Zs" for ch in text):
        return False  # digits, above all
    return len(text) <= (10 if any(map(_han, text)) else 20)


def _phrase(text: str) -> bool:
    return len(text) <= 5 and all(map(_han, text))


def _is_date(text: str) -> bool:
    for form in _DATE_FORMS:
        match = form.fullmatch(text)
        if match:
            parts = match.groupdict()
            month, day = int(parts["m"]), int(parts.get("d") or 1)
            return 1 <= month <= 12 and 1 <= day <= 31
    return False


def _is_time(text: str) -> bool:
    match = _TIME.fullmatch(text)
    if not match:
        return False
    hour, minute, second = int(match["h"]), int(match["mi"]), int(match["s"] or 0)
    return hour <= 23 and minute <= 59 and second <= 59


def _moment(text: str, *, time_required: bool) -> bool:
    """A time optionally after a date (`time`), or a date optionally before a time (`date`)."""
    if _is_time(text):
        return time_required
    if _is_date(text):
        return not time_required
    # A date and a time, with or without a space between them: `2019年10月1日15:01`.
    for split in range(max(1, len(text) - _LONGEST_TIME), len(text)):
        if _is_time(text[split:]) and _is_date(text[:split].rstrip()):
            return True
    return False


def _span(text: str, *, time_required: bool) -> bool:
    """One moment, or two joined by `~` (a range)."""
    ends = _RANGE.split(text)
    return len(ends) <= 2 and all(_moment(end, time_required=time_required) for end in ends)


_RULES = {
    "thing": _thing,
    "number": _number,
    "letter": _letter,
    "symbol": _symbols,
    "character_string": _character_string,
    "time": lambda text: _span(text, time_required=True),
    "date": lambda text: _span(text, time_required=False),
    "amount": _amount,
    "phone_number": _phone_number,
    "car_number": _car_number,
    "name": _name,
    "phrase": _phrase,
}
