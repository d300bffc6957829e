"""Write the settings table of backend/settings.py into `.env.example` and the READMEs' Configure tables.

    python -m scripts.settings_table                  # rewrite .env.example and every README*.md
    python -m scripts.settings_table --check          # exit 1 when one of them is out of step
    python -m scripts.settings_table --markdown --lang zh-CN   # print the table
    python -m scripts.settings_table README.zh-CN.md  # rewrite one file (language from its name, or --lang)

A README's table lives between `<!-- settings:start -->` and `<!-- settings:end -->`; the rest
of the file is left alone. tests/test_settings.py keeps every file in step with the table.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
import unicodedata
from pathlib import Path

from backend.settings import GROUPS, SETTINGS, Setting

ROOT = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = ROOT / ".env.example"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"
LANGS = ("en", "zh-CN")
COMMAND = "python -m scripts.settings_table"
HEADERS = {"en": ("variable", "meaning", "default"), "zh-CN": ("变量", "含义", "默认值")}
SECRET_MARK = {"en": " *Secret.*", "zh-CN": "（机密）"}
NOTE = {
    "en": f"<!-- Generated from backend/settings.py by `{COMMAND}`: edit the table there. -->",
    "zh-CN": f"<!-- 由 `{COMMAND}` 根据 backend/settings.py 生成：请在那里修改。 -->",
}


class OutOfStep(Exception):
    """A file lacks the markers the table goes between."""


def lang_of(readme: Path) -> str:
    """README.md is English; README.<lang>.md is <lang>."""
    parts = readme.name.split(".")
    return parts[1] if len(parts) == 3 else "en"


def readmes() -> list[Path]:
    return sorted(ROOT.glob("README*.md"))


def markdown_table(lang: str = "en") -> str:
    variable, meaning, default = HEADERS[lang]
    rows = [f"| {variable} | {meaning} | {default} |", "|---|---|---|"]
    for setting in SETTINGS:
        text = (setting.zh if lang == "zh-CN" else setting.en) + (SECRET_MARK[lang] if setting.secret else "")
        rows.append(f"| `{setting.name}` | {_cell(text)} | {_cell(setting.default_text(lang))} |")
    return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def with_table(document: str, lang: str, name: str = "README") -> str:
    """`document` with the generated table between its markers."""
    before, start, rest = document.partition(START)
    _, end, after = rest.partition(END)
    if not start or not end:
        raise OutOfStep(f"{name} lacks the markers {START} … {END} around its settings table")
    return f"{before}{START}\n{NOTE[lang]}\n\n{markdown_table(lang)}{END}{after}"


ENV_WIDTH = 98  # of a comment's text, in columns (a Chinese character takes two)
# A line may not start with these: they stay at the end of the line before (避头).
CLOSING = set("，。、；：！？）」』》〉】")


def env_example() -> str:
    """.env.example: every setting, empty, under its meaning in English and then in Chinese."""
    lines = [
        "# Copy to .env and fill in what you need: an empty value means the default. Without",
        "# WX_APPID / WX_SECRET the backend runs in dev mode against the bundled WeChat emulator",
        "# (`make run` starts both). The variables of the environment win over this file.",
        f"# Generated from backend/settings.py by `{COMMAND}`: edit the table there.",
        "#",
        "# 复制为 .env，按需填写：值为空表示使用默认值。不设置 WX_APPID / WX_SECRET 时，后端以开发模式",
        "# 运行，连接自带的微信模拟器（`make run` 会同时启动两者）。环境变量优先于本文件。",
        f"# 由 `{COMMAND}` 根据 backend/settings.py 生成：请在那里修改。",
    ]
    for group, (title, title_zh) in GROUPS.items():
        lines += ["", f"# == {title} · {title_zh} =="]
        for setting in (s for s in SETTINGS if s.group == group):
            lines += ["", *_env_entry(setting)]
    return "\n".join(lines) + "\n"


def _env_entry(setting: Setting) -> list[str]:
    notes = [setting.en, f"Default: {setting.default_text('en')}."]
    notes_zh = [setting.zh, f"默认值：{setting.default_text('zh-CN')}。"]
    if setting.secret:
        notes.append("Secret: keep it out of version control.")
        notes_zh.append("机密：不要提交到版本库。")
    comment = textwrap.wrap(" ".join(notes), width=ENV_WIDTH, break_on_hyphens=False, break_long_words=False)
    lines = [f"# {line}" for line in comment + wrap_wide("".join(notes_zh))]
    if setting.example:
        lines.append(f"# {setting.name}={setting.example}")
    return [*lines, f"{setting.name}="]


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def wrap_wide(text: str, width: int = ENV_WIDTH) -> list[str]:
    """Chinese text in lines of at most `width` columns: a break may fall between two Chinese
    characters or at a space, never inside a Latin word or `code`, nor before closing punctuation."""
    tokens = re.findall(r"`[^`]*`|[!-~]+|\s+|.", text)
    lines, line = [], ""
    for token in tokens:
        fits = _columns(line + token.rstrip()) <= width
        if line and not fits and token not in CLOSING and not token.isspace():
            lines.append(line.rstrip())
            line = ""
        if line or not token.isspace():
            line += token
    return [*lines, line.rstrip()] if line.strip() else lines


def expected_files() -> dict[Path, str]:
    """Every generated file with the content it should have."""
    files = {ENV_EXAMPLE: env_example()}
    for readme in readmes():
        files[readme] = with_table(readme.read_text(encoding="utf-8"), lang_of(readme), readme.name)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path, help="README files to rewrite (default: all, and .env.example)")
    parser.add_argument("--lang", choices=LANGS, help="the table's language (default: from the file name)")
    parser.add_argument("--markdown", action="store_true", help="print the Markdown table and stop")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a file is out of step")
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown_table(args.lang or "en"))
        return 0
    try:
        if args.files:
            files = {
                path: with_table(path.read_text(encoding="utf-8"), args.lang or lang_of(path), str(path))
                for path in args.files
            }
        else:
            files = expected_files()
    except OutOfStep as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    stale = [path for path, text in files.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.name} is out of step with backend/settings.py: run {COMMAND}", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(files[path], encoding="utf-8")
        print(f"wrote {path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
