"""The language of the API's error messages: English, or Simplified Chinese when the client asks.

Only an error's `message` is translated, and only when the response is written: its `code`, its
`details` and the logs stay English. The dashboard's page (/admin) has a catalogue of its own,
DASHBOARD_CATALOGUES, translated the same way, and so has every `flask wx` command
(CLI_CATALOGUES, backend/ops/texts.py), in the language of the machine's locale (LANG), and
the API document that /docs shows (OPENAPI_CATALOGUES, `/openapi.json?lang=zh-CN`). Each
catalogue maps an English message template, exactly as the code raises it, to its translation;
a message missing from the catalogue is answered in English, and `Content-Language` says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from backend.i18n import cli_zh_cn, dashboard_zh_cn, openapi_zh_cn, zh_cn

ENGLISH = "en"
CHINESE = "zh-CN"
CATALOGUES: dict[str, Mapping[str, str]] = {CHINESE: zh_cn.MESSAGES}
LANGUAGES = (ENGLISH, *CATALOGUES)
# A page's language switch (/admin, /docs): each language named in itself.
LANGUAGE_CHOICES = ((CHINESE, "中文"), (ENGLISH, "English"))
DASHBOARD_CATALOGUES: dict[str, Mapping[str, str]] = {CHINESE: dashboard_zh_cn.TEXTS}
CLI_CATALOGUES: dict[str, Mapping[str, str]] = {CHINESE: cli_zh_cn.TEXTS}
# The API document's prose, keyed with its whitespace collapsed (see openapi_zh_cn).
OPENAPI_CATALOGUES: dict[str, Mapping[str, str]] = {CHINESE: openapi_zh_cn.TEXTS}

# Tags written in Traditional characters: their readers did not ask for Simplified Chinese.
_TRADITIONAL = {"hant", "tw", "hk", "mo"}


class Text(NamedTuple):
    text: str
    language: str


def language_of_tag(tag: str) -> str | None:
    """The language of LANGUAGES a language tag asks for, or None.

    English in any region is `en`. Chinese is `zh-CN` unless the tag names Traditional
    characters (zh-Hant, zh-TW, zh-HK, zh-MO); an explicit script wins over the region, so
    zh-Hans-HK is Simplified. The wildcard `*` takes the default, English.
    """
    subtags = re.split(r"[-_]", tag.lower())
    if subtags[0] in ("en", "*"):
        return ENGLISH
    if subtags[0] == "zh" and ("hans" in subtags or not _TRADITIONAL.intersection(subtags)):
        return CHINESE
    return None


def negotiate(accepted: Iterable[tuple[str, float]]) -> str:
    """The language to answer in: the client's most preferred one we have, else English.

    `accepted` is Werkzeug's parsed Accept-Language (`request.accept_languages`; a malformed
    header parses as empty). Highest q-value first, ties in the client's order (Werkzeug puts
    `*` after every tag whatever its q: sorted again here); a range with q=0 means "not this".
    """
    for tag, quality in sorted(accepted, key=lambda item: item[1], reverse=True):
        language = language_of_tag(tag)
        if quality > 0 and language is not None:
            return language
    return ENGLISH


def language_of_environment(environ: Mapping[str, str] | None = None) -> str:
    """The language of the command line: the locale's (LC_ALL, else LC_MESSAGES, else LANG), else English.

    `zh_CN.UTF-8` is Simplified Chinese; `C`, `POSIX`, `C.UTF-8` and a language we lack are English.
    """
    environ = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "")
        if value:
            return language_of_tag(re.split(r"[.@]", value)[0]) or ENGLISH
    return ENGLISH


def translate(
    template: str,
    language: str,
    params: Mapping[str, Any] | None = None,
    catalogues: Mapping[str, Mapping[str, str]] = CATALOGUES,
) -> Text:
    """`template` in `language` (English when the catalogue lacks it), its {placeholders} filled."""
    translated = catalogues.get(language, {}).get(template)
    text, used = (translated, language) if translated else (template, ENGLISH)
    return Text(text.format_map(params) if params else text, used)
