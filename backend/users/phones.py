"""Phone numbers in E.164 (`+8613800138000`), the one form they are stored and compared in.

WeChat's getPhoneNumber gives `13800138000` with country code `86`, or `+1 6502530000` for a
number abroad (docs/wechat.md §3); business code writes them as it likes (`+86 138 0013 8000`).
A number without a country code is read as Chinese.
"""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "CN"


def to_e164(text: str | None, country_code: str | None = None) -> str | None:
    """`text` in E.164, or None when it is not a possible phone number.

    `country_code` (digits, WeChat's `countryCode`) applies to a number written without one.
    """
    if not text or not isinstance(text, str):
        return None
    if country_code and not text.lstrip().startswith("+"):
        text = f"+{country_code.strip().lstrip('+')} {text}"
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    # Possible (the length fits the country) rather than valid (a range allocated when the
    # library's metadata was made): a number from a newer range must still be found.
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
