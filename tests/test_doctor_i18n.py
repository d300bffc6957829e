"""`wx doctor` in the machine's language: Chinese under LANG=zh_CN.UTF-8, a translation for every line.

A string of backend/ops/doctor.py without its zh-CN form fails here by name; the fix is one
line in backend/i18n/cli_zh_cn.py. The catalogue is shared with every other command:
tests/test_cli_i18n.py checks it holds nothing the command line no longer says.
"""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest

from backend import i18n
from backend.i18n.cli_zh_cn import TEXTS as ZH
from backend.ops import doctor as doctor_module
from tests.test_doctor import CHECKS, deployment  # noqa: F401 (a fixture)

CHINESE = {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def literal_calls(module, function: str) -> set[str]:
    """The literal first argument of every `function("...")` call in `module`'s source."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == function
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


def doctor_strings() -> set[str]:
    """Every Text("...") of doctor.py (but those of placeholders only), the checks' names, the advice."""
    texts = literal_calls(doctor_module, "Text")
    texts = {text for text in texts if re.sub(r"\{\w+\}", "", text).strip()}
    return texts | set(CHECKS) | set(doctor_module.PLATFORM_CHECKS) | set(doctor_module.TOKEN_ADVICE.values())


def test_the_pattern_finds_the_strings():
    assert {"needs the database", "none", "no schema yet: {upgrade}"} <= doctor_strings()


@pytest.mark.parametrize("english", sorted(doctor_strings()))
def test_every_doctor_string_has_its_chinese_form(english):
    assert english in ZH, f"add {english!r} to backend/i18n/cli_zh_cn.py"
    assert placeholders(ZH[english]) == placeholders(english)
    assert ZH[english] != english


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh-CN"),
        ({"LANG": "zh_CN.GB18030"}, "zh-CN"),
        ({"LANG": "zh_SG"}, "zh-CN"),
        ({"LANG": "zh_TW.UTF-8"}, "en"),  # Traditional characters: not what they asked for
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "POSIX"}, "en"),
        ({}, "en"),
        ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"),  # LC_ALL wins
        ({"LANG": "en_US.UTF-8", "LC_MESSAGES": "zh_CN.UTF-8"}, "zh-CN"),  # the messages' locale
        ({"LANG": "zh_CN.UTF-8", "LC_ALL": ""}, "zh-CN"),  # an empty variable is unset
        ({"LANG": "de_DE@euro"}, "en"),
    ],
)
def test_the_language_of_the_environment(environ, language):
    assert i18n.language_of_environment(environ) == language


def test_a_finding_in_each_language():
    advice = doctor_module.Text(doctor_module.TOKEN_ADVICE[40164], ip=" 10.0.0.1")
    finding = doctor_module.finding(
        "FAIL",
        "access token",
        doctor_module.Text("errcode {errcode}: {advice}", errcode=40164, advice=advice),
        appid="wx1",
    )
    assert finding.line("en") == (
        "FAIL access token (wx1): errcode 40164: add this machine's outbound IP 10.0.0.1 to the mini program's "
        "IP whitelist (开发管理 → 开发设置 → IP白名单)"
    )
    assert finding.line("zh-CN") == (
        "FAIL access token 可获取 (wx1): errcode 40164：把本机的出口 IP 10.0.0.1 加入小程序的 IP 白名单"
        "（开发管理 → 开发设置 → IP白名单）"
    )


def test_doctor_speaks_chinese_under_a_chinese_locale(deployment, emulator):  # noqa: F811 (the fixture)
    app = deployment(BUSINESS_API_KEYS=[])
    emulator.fault(api="stable_token", errcode=40164, times=1)
    result = app.test_cli_runner().invoke(args=["wx", "doctor"], env=CHINESE)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    names = [re.match(r"^\S+\s+(.*?)(?::|$)", line)[1] for line in lines]
    assert names == [ZH[check] for check in CHECKS]
    by_name = dict(zip(CHECKS, lines, strict=True))
    assert by_name["configuration"] == "warn 配置: 未设置 BUSINESS_API_KEYS：业务代码无法发送"
    assert by_name["access token"].startswith("FAIL access token 可获取: errcode 40164：把本机的出口 IP 127.0.0.1 加入")
    assert by_name["unknown messages"] == "ok   结果未知的消息: 没有"
