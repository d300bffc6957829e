"""Error messages in the client's language: negotiation, and a translation for every message.

A message without its zh-CN translation fails here by name (the class, or the file and line of
the raise); the fix is one line in backend/i18n/zh_cn.py.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import string
from pathlib import Path

import pytest
from werkzeug.datastructures import LanguageAccept
from werkzeug.exceptions import default_exceptions
from werkzeug.http import parse_accept_header

import backend
from backend import errors, i18n
from backend.i18n.zh_cn import MESSAGES as ZH

BACKEND = Path(backend.__file__).parent
CJK = re.compile(r"[\u4e00-\u9fff]")


def _api_error_classes() -> list[type[errors.ApiError]]:
    """Every ApiError subclass of the backend, wherever it is defined (all modules imported)."""
    for module in pkgutil.walk_packages(backend.__path__, "backend."):
        if not module.name.startswith("wxemu"):  # it answers as WeChat, not with ours
            importlib.import_module(module.name)
    found, todo = [], [errors.ApiError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted((cls for cls in found if cls.__module__.startswith("backend.")), key=_name)


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


API_ERRORS = _api_error_classes()
API_ERROR_NAMES = {cls.__name__ for cls in API_ERRORS}
WERKZEUG_MESSAGES = {str(cls.description) for cls in default_exceptions.values()}


def _raised_messages() -> list[tuple[str, ast.expr]]:
    """The message argument of every `SomeApiError(...)` and `error_response(...)` in the backend."""
    found = []
    for path in sorted(BACKEND.rglob("*.py")):
        if "emulator" in path.parts:  # the emulator answers as WeChat does, not with our errors
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            position = 1 if name == "error_response" else 0 if name in API_ERROR_NAMES else None
            if position is None:
                continue
            keyword = next((kw.value for kw in node.keywords if kw.arg == "message"), None)
            argument = node.args[position] if len(node.args) > position else keyword
            if argument is not None:
                found.append((f"{path.relative_to(BACKEND.parent)}:{node.lineno}", argument))
    return found


RAISED = _raised_messages()


def _placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


@pytest.mark.parametrize("cls", API_ERRORS, ids=_name)
def test_every_error_class_has_a_chinese_message(cls):
    assert cls.message in ZH, f"{_name(cls)}: add {cls.message!r} to backend/i18n/zh_cn.py"
    assert ZH[cls.message] != cls.message


@pytest.mark.parametrize(("where", "argument"), RAISED, ids=[where for where, _ in RAISED])
def test_every_raised_message_has_a_chinese_message(where, argument):
    if isinstance(argument, ast.JoinedStr):
        pytest.fail(f"{where}: an f-string message can't be translated; pass a template and params={{...}}")
    if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
        # error_response's own callers in backend/errors.py pass a class's message or Werkzeug's
        assert where.startswith("backend/errors.py"), f"{where}: a message must be a literal template"
        return
    assert argument.value in ZH, f"{where}: add {argument.value!r} to backend/i18n/zh_cn.py"


@pytest.mark.parametrize("code", sorted(default_exceptions))
def test_werkzeug_errors_have_a_chinese_message(code):
    """Werkzeug answers some requests before a view runs (an unknown URL, a body too large)."""
    assert str(default_exceptions[code].description) in ZH, f"HTTP {code}: {default_exceptions[code].__name__}"


def test_the_catalogue_holds_only_messages_the_code_can_answer():
    """An English message edited in the code leaves its old translation behind: this finds it."""
    literal = {arg.value for _, arg in RAISED if isinstance(arg, ast.Constant)}
    known = {cls.message for cls in API_ERRORS} | literal | WERKZEUG_MESSAGES | {errors.INTERNAL_ERROR_MESSAGE}
    assert sorted(set(ZH) - known) == []


@pytest.mark.parametrize("english", sorted(ZH))
def test_a_translation_is_chinese_with_the_same_placeholders(english):
    assert CJK.search(ZH[english]) and ZH[english] != english
    assert _placeholders(ZH[english]) == _placeholders(english)


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("zh", "zh-CN"),
        ("zh-Hans", "zh-CN"),
        ("zh-Hans-HK", "zh-CN"),  # the script says Simplified, whatever the region
        ("zh-SG", "zh-CN"),
        ("zh_CN", "zh-CN"),
        ("ZH-cn", "zh-CN"),
        ("zh-CN, en", "zh-CN"),  # equal q: the client's order
        ("en, zh-CN", "en"),
        ("en-US", "en"),
        ("en-GB,en;q=0.9,zh-CN;q=0.8", "en"),
        ("en;q=0.5, zh;q=0.8", "zh-CN"),
        ("fr, de;q=0.9", "en"),
        ("fr, zh;q=0.5", "zh-CN"),  # French first, which we lack; Chinese before the default
        ("zh-TW", "en"),  # Traditional characters: not what a zh-TW reader asked for
        ("zh-Hant", "en"),
        ("zh-HK, zh-CN;q=0.8", "zh-CN"),  # ... unless they accept Simplified too
        ("zh;q=0, en", "en"),
        ("zh;q=0", "en"),
        ("*", "en"),
        ("*;q=1, zh;q=0.5", "en"),  # Werkzeug lists * after zh: the q-values decide here
        ("", "en"),
        ("q=;;,", "en"),
    ],
)
def test_accept_language_negotiation(header, language):
    assert i18n.negotiate(parse_accept_header(header, LanguageAccept)) == language


def test_placeholders_are_filled_in_each_language():
    exc = errors.RateLimited(
        "More than {limit} requests a minute; try again in {retry_after} s.",
        params={"limit": 5, "retry_after": 7},
        details={"retry_after": 7},
    )
    assert exc.message == str(exc) == "More than 5 requests a minute; try again in 7 s."  # logs, CLI
    assert exc.body()["error"]["message"] == exc.message
    assert exc.body(i18n.CHINESE)["error"] == {
        "code": "rate_limited",
        "message": "每分钟请求超过 5 次，请在 7 秒后重试。",
        "details": {"retry_after": 7},
    }


def test_a_message_missing_from_the_catalogue_is_answered_in_english():
    assert i18n.translate("Something new.", i18n.CHINESE) == ("Something new.", "en")
    assert i18n.translate("WeChat refused the message: {errmsg}", i18n.CHINESE, {"errmsg": "{x}"}).text == (
        "微信拒绝了该消息：{x}"  # a value is not a template
    )


def test_outside_a_request_errors_are_english(app):
    """The CLI prints errors with no request, hence no Accept-Language: English."""
    with app.app_context():
        response = errors.ConsentRequired().response()
    assert response.headers["Content-Language"] == "en"
    assert response.get_json()["error"]["message"] == errors.ConsentRequired.message
