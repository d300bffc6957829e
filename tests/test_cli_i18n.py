"""`flask --app wsgi wx …` in the machine's language: every message a command prints has its Chinese form.

The operator-facing strings and where each is checked: the API's messages in tests/test_i18n.py,
the dashboard's in tests/test_admin_i18n.py, the command line's (`wx doctor` and every other
command, and click's usage errors) here. What a command prints for a person goes through
`say(...)` or `Text(...)` (backend/ops/texts.py); a click.echo or click error given an English
literal or f-string fails here by file and line, and a template without its zh-CN form by name:
the fix is one line in backend/i18n/cli_zh_cn.py.
"""

from __future__ import annotations

import ast
import json
import re
import string
from pathlib import Path

import click
import pytest

import backend
from backend.i18n.cli_zh_cn import TEXTS as ZH
from backend.ops import doctor
from backend.ops.cli import wx
from backend.ops.texts import SaidHelp, help_key
from tests.helpers import ONE_TIME, accept, log_in
from tests.test_doctor import CHECKS

BACKEND = Path(backend.__file__).parent
CLICK = Path(click.__file__).parent
CJK = re.compile(r"[\u4e00-\u9fff]")
CHINESE = {"LANG": "zh_CN.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
ENGLISH = {"LANG": "C.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
# Calls that print to the operator, and which of their arguments is what they read.
PRINTING = {"echo": ("message", 0), "secho": ("message", 0), "ClickException": ("message", 0)}
PRINTING |= {"UsageError": ("message", 0), "BadParameter": ("message", 0), "progressbar": ("label", None)}
PRINTING |= {"confirm": ("text", 0), "prompt": ("text", 0), "print": ("", 0)}
# Output that is not prose: JSON for scripts, and doctor's findings (each a Text already).
NOT_PROSE = {"json.dumps", "finding.line"}


def placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def words(text: str) -> list[str]:
    """The words of `text` but its placeholders and --options."""
    return re.findall(r"[A-Za-z]{2,}", re.sub(r"\{[^}]*\}|--[\w-]+", "", text))


def names(text: str) -> set[str]:
    """The words of `text`, in the singular and lower case (Chinese has neither)."""
    return {word.lower().removesuffix("s") for word in words(text)}


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(encoding="utf-8"), str(path))) for path in sorted(BACKEND.rglob("*.py"))]


MODULES = _modules()


def said_templates() -> set[str]:
    """The literal template of every Text("...") and say("...") of the backend (but placeholders only)."""
    found = set()
    for _, tree in MODULES:
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and _dotted(node.func).rpartition(".")[2] in ("Text", "say")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.add(node.args[0].value)
    return {text for text in found if re.sub(r"\{[^}]*\}", "", text).strip()}


def help_texts(command: click.Command = wx) -> set[str]:
    """The --help of `flask wx` and every command under it, as the catalogue keys them."""
    texts = {help_key(text) for text in (command.help, command.short_help) if text}
    texts |= {help_key(param.help) for param in command.params if getattr(param, "help", None)}
    for sub in getattr(command, "commands", {}).values():
        texts |= help_texts(sub)
    return texts


def operator_strings() -> set[str]:
    """Every English string the command line says: the templates, doctor's checks and advice, --help."""
    checks = set(CHECKS) | set(doctor.PLATFORM_CHECKS)  # the platform's: with WX_COMPONENT_* only
    return said_templates() | checks | set(doctor.TOKEN_ADVICE.values()) | help_texts()


def printed_arguments() -> list[tuple[str, ast.expr]]:
    """(file:line, argument) of every call printing to the operator in a module that uses click."""
    found = []
    for path, tree in MODULES:
        if not any(isinstance(node, (ast.Import, ast.ImportFrom)) and "click" in ast.dump(node) for node in tree.body):
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _dotted(node.func)
            if name != "print" and not name.startswith("click."):
                continue
            keyword, position = PRINTING.get(name.rpartition(".")[2], (None, None))
            if keyword is None:
                continue
            argument = next((kw.value for kw in node.keywords if kw.arg == keyword), None)
            if argument is None and position is not None and len(node.args) > position:
                argument = node.args[position]
            if argument is not None:
                found.append((f"{path.relative_to(BACKEND.parent)}:{node.lineno}", argument))
    return found


PRINTED = printed_arguments()


def click_msgids() -> set[str]:
    """Click's own messages: the literal arguments of its `_(...)` and `ngettext(...)`."""
    found = set()
    for path in CLICK.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _dotted(node.func) in ("_", "ngettext"):
                found.update(
                    arg.value for arg in node.args if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                )
    return found


def test_the_patterns_find_the_strings():
    strings = operator_strings()
    assert {"no token yet", "{count} event(s) due again", "needs the database", "configuration"} <= strings
    assert {"Stop when the queue is empty.", "Work with WeChat through the backend."} <= strings
    assert {"Error: {message}", "Missing option", "Usage:"} <= click_msgids()
    assert len(PRINTED) > 20 and any(where.startswith("backend/ops/cli.py") for where, _ in PRINTED)


@pytest.mark.parametrize(("where", "argument"), PRINTED, ids=[where for where, _ in PRINTED])
def test_every_printed_message_is_said_in_the_operators_language(where, argument):
    """English written straight into click.echo or a click error can't be translated."""
    if isinstance(argument, ast.Call) and _dotted(argument.func).rpartition(".")[2] in ("say", "Text"):
        return
    if isinstance(argument, ast.Call) and _dotted(argument.func) in NOT_PROSE:
        return
    if isinstance(argument, ast.JoinedStr):  # an f-string of values only (ids, counts, said words)
        literal = "".join(part.value for part in argument.values if isinstance(part, ast.Constant))
        assert not re.search(r"[A-Za-z]", literal), f"{where}: words in an f-string; print say('...', name=value)"
        return
    pytest.fail(f"{where}: print say('an English template', **values) and add its Chinese to cli_zh_cn.py")


@pytest.mark.parametrize("english", sorted(operator_strings()))
def test_every_command_line_string_has_its_chinese_form(english):
    assert english in ZH, f"add {english!r} to backend/i18n/cli_zh_cn.py"
    assert ZH[english] != english
    # Chinese, or the English had nothing but names to say: "webhooks", "--metrics-port {port}: {error}"
    assert CJK.search(ZH[english]) or names(ZH[english]) == names(english)
    assert placeholders(ZH[english]) == placeholders(english)


def test_click_messages_in_the_catalogue_are_clicks_own():
    """A msgid click no longer has (an upgrade reworded it) would silently fall back to English."""
    ours = set(ZH) - operator_strings()
    assert sorted(ours - click_msgids()) == []
    for msgid in ours:
        assert CJK.search(ZH[msgid]) and placeholders(ZH[msgid]) == placeholders(msgid)


def test_the_catalogue_holds_only_strings_the_command_line_says():
    assert sorted(set(ZH) - operator_strings() - click_msgids()) == []


def invoke(app, *args, env=CHINESE):
    return app.test_cli_runner().invoke(args=["wx", *args], env=env)


def test_apps_and_webhooks_speak_chinese(app):
    apps = invoke(app, "apps")
    assert apps.exit_code == 0, apps.output
    assert "还没有 token" in apps.output and "未配置消息推送" in apps.output
    assert "0 个模板  0 个剩余额度" in apps.output
    webhooks = invoke(app, "webhooks")
    assert webhooks.output.splitlines() == ["0 个投递失败，0 个已放弃"]
    assert invoke(app, "webhooks", env=ENGLISH).output.splitlines() == ["0 failing, 0 dead"]


def test_a_usage_error_in_chinese(app):
    result = invoke(app, "send", "--openid", "o", "--template", "t", "--data", "oops")
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("用法：") and lines[0].endswith(" wx send [OPTIONS]")
    assert re.fullmatch(r"运行 '\S+ wx send --help' 查看帮助。", lines[1])
    assert lines[-1] == "错误：--data 的值无效：'oops' 不是 key=value 的形式"


def test_clicks_own_errors_in_chinese(app):
    missing = invoke(app, "send", "--openid", "o")
    assert missing.exit_code == 2 and missing.stderr.splitlines()[-1] == "错误：缺少选项 '--template'."
    unknown = invoke(app, "send", "--opendi", "o")
    assert unknown.stderr.splitlines()[-1] == "错误：没有选项 '--opendi'。 您是想用 '--openid' 吗？"
    choice = invoke(app, "send", "--openid", "o", "--template", "t", "--state", "beta")
    assert "'beta' 不是 'developer', 'trial', 'formal' 之一。" in choice.stderr
    # The next command in English is English again: the language is read at each message.
    english = invoke(app, "send", "--openid", "o", env=ENGLISH)
    assert english.stderr.splitlines()[-1] == "Error: Missing option '--template'."


def test_a_refused_send_in_chinese(app, client, emulator, templates):
    user = log_in(client, emulator)
    args = ["send", "--openid", user.openid, "--template", ONE_TIME["priTmplId"], "--data", "thing1=Kettle"]
    result = invoke(app, *args, "--data", "time2=15:01")
    assert result.exit_code == 1
    body = json.loads(result.stdout.strip().splitlines()[-1])
    assert body["error"]["code"] == "consent_required" and CJK.search(body["error"]["message"])
    assert result.stderr.splitlines() == [f"错误：consent_required: {body['error']['message']}"]
    accept(client, emulator, user)
    assert json.loads(invoke(app, *args, "--data", "time2=15:01").stdout)["status"] == "sent"


def test_help_in_chinese(app):
    group = invoke(app, "--help")
    assert group.exit_code == 0 and "通过后端操作微信。" in group.output
    assert re.search(r"^  worker +从 Redis（RQ）投递排队的消息", group.output, re.MULTILINE)
    send = invoke(app, "send", "--help").output
    assert "接收者是 --openid、--user-id、--external-id、--phone-number 中的恰好一个。" in send
    assert re.search(r"--openid TEXT +接收者的 openid。", send) and "显示此帮助并退出。" in send
    english = invoke(app, "send", "--help", env=ENGLISH).output
    assert "The recipient's openid." in english and "接收者" not in english


def test_every_command_has_said_help():
    """A command made with @wx.command or @templates.command gets it; one made otherwise would not."""

    def commands(command):
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from commands(sub)

    assert [c.name for c in commands(wx) if not isinstance(c, SaidHelp)] == []


def test_the_worker_without_redis_in_chinese(app):
    result = invoke(app, "worker", "--burst")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "错误：未设置 REDIS_URL；没有 Redis 时由 Web 进程自己投递批量发送。"
