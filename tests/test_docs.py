"""The documentation stays true to the code and to itself.

- docs/api.md's error table lists exactly the error codes the code can answer with;
- README.md and README.zh-CN.md have the same sections and the same commands;
- every "wechat.md §n" a comment cites names a section of docs/wechat.md;
- every relative link of the Markdown files resolves inside the repository;
- the Chinese pages link to Chinese pages, or say （英文） after a link to an English one.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import backend
from backend.errors import ApiError
from scripts import check_links

ROOT = Path(__file__).resolve().parent.parent
ERROR_TABLE = re.compile(r"<!-- error-codes:start -->(.*?)<!-- error-codes:end -->", re.DOTALL)
TABLE_CODE = re.compile(r"^\|\s*`([a-z_]+)`", re.MULTILINE)
FENCED = re.compile(r"^[ \t]*```([^\n`]*)\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)
SHELL = {"sh", "bash", "shell", "console"}
# "docs/wechat.md §4", "docs/wechat.md §2a", "docs/wechat.md §6-7", "WECHAT.md section 5"
CITATION = re.compile(r"wechat\.md\s*(?:§|section\s+)(\d+[a-z]?)(?:\s*[-–]\s*(\d+))?", re.IGNORECASE)
SECTION = re.compile(r"^#{2,3}\s+(\d+[a-z]?)\.\s", re.MULTILINE)


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def documented_codes(name: str) -> set[str]:
    match = ERROR_TABLE.search(read(name))
    assert match, f"{name} has no error table between <!-- error-codes:start --> and <!-- error-codes:end -->"
    return set(TABLE_CODE.findall(match.group(1)))


def api_error_codes() -> set[str]:
    """The `code` of every ApiError subclass anywhere in backend/ (every module imported first)."""
    for module in pkgutil.walk_packages(backend.__path__, "backend."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    codes, todo = set(), [ApiError]
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo.extend(cls.__subclasses__())
    return codes


def test_the_error_table_lists_every_code_of_the_code_and_no_other():
    documented, in_code = documented_codes("docs/api.md"), api_error_codes()
    assert sorted(documented - in_code) == [], "documented in docs/api.md, but no ApiError has this code"
    assert sorted(in_code - documented) == [], "an ApiError code missing from docs/api.md's error table"


def test_the_chinese_api_doc_has_the_same_error_table():
    assert documented_codes("docs/zh-CN/api.md") == documented_codes("docs/api.md")


def headings(text: str) -> list[int]:
    """The level of every heading, in order (fenced code is not prose: `# comment` is no heading)."""
    return [
        len(match.group(1))
        for _, line in check_links.prose_lines(text, inline_code=True)
        if (match := check_links.HEADING.match(line))
    ]


def without_comments(block: str) -> list[str]:
    """A shell block's command lines: comment lines and trailing `# comments` dropped.

    The one difference allowed: the language a command asks for (`Accept-Language: zh-CN` in
    the Chinese README, so that its walk-through shows the Chinese messages)."""
    lines = []
    for line in block.splitlines():
        line = re.sub(r"(^|\s)#(\s.*)?$", "", line).rstrip()
        line = re.sub(r"Accept-Language: [A-Za-z-]+", "Accept-Language: *", line)
        if line:
            lines.append(line)
    return lines


def code_blocks(text: str) -> tuple[list[list[str]], list[str]]:
    """(shell blocks without their comments, every other fenced block as written)."""
    shell, other = [], []
    for info, body in FENCED.findall(text):
        if info.strip() in SHELL:
            shell.append(without_comments(body))
        else:
            other.append(body)
    return shell, other


def test_both_readmes_have_the_same_sections():
    english, chinese = headings(read("README.md")), headings(read("README.zh-CN.md"))
    assert english == chinese


def test_both_readmes_have_the_same_commands():
    english_shell, english_other = code_blocks(read("README.md"))
    chinese_shell, chinese_other = code_blocks(read("README.zh-CN.md"))
    assert english_shell, "README.md has no shell blocks: the pattern is wrong"
    assert chinese_shell == english_shell
    assert chinese_other == english_other


def test_the_readmes_link_to_each_other():
    assert "(README.zh-CN.md)" in read("README.md").split("\n## ", 1)[0]
    assert "(README.md)" in read("README.zh-CN.md").split("\n## ", 1)[0]


@pytest.mark.parametrize("name", ["README.md", "README.zh-CN.md"])
def test_the_settings_table_is_marked_for_generation(name):
    text = read(name)
    start, end = text.find("<!-- settings:start -->"), text.find("<!-- settings:end -->")
    assert 0 <= start < end
    assert "| `DATABASE_URL`" in text[start:end]


def test_every_wechat_md_citation_names_a_section_of_docs_wechat_md():
    sections = set(SECTION.findall(read("docs/wechat.md")))
    cited: dict[str, list[str]] = {}
    for folder in ("backend", "miniprogram", "tests", "docs"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix not in {".py", ".js", ".md", ".wxml", ".ts"} or "node_modules" in path.parts:
                continue
            for match in CITATION.finditer(path.read_text(encoding="utf-8")):
                first, last = match.group(1), match.group(2)
                numbers = [first] if last is None else [str(n) for n in range(int(first), int(last) + 1)]
                for number in numbers:
                    cited.setdefault(number, []).append(str(path.relative_to(ROOT)))
    assert cited, "no citation found: the pattern is wrong"
    assert {number: files for number, files in cited.items() if number not in sections} == {}


def test_the_docs_do_not_lean_on_files_outside_the_repository():
    # The contract's drafts lived in a folder beside the repository; a clone has no such folder.
    beside = "shared" + "/"  # spelt so that a grep for it finds no test either
    names = ["README.md", "README.zh-CN.md", *(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))]
    assert [name for name in names if beside in read(name)] == []


def test_every_relative_link_of_the_markdown_files_resolves():
    assert check_links.check(check_links.tracked_files()) == []


def test_the_link_check_finds_what_is_broken(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A title\n\n## Its part\n", encoding="utf-8")
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md#its-part) [web](https://example.com/x) [self](#readme)\n"
        "# Readme\n"
        "[missing](docs/b.md) [anchor](docs/a.md#nowhere) [outside](../outside/API.md) [abs](/etc/passwd)\n"
        "```sh\n[in code](nowhere.md)\n```\n",
        encoding="utf-8",
    )
    problems = check_links.check({"README.md", "docs/a.md"}, root=tmp_path)
    assert [problem.split(": ", 2)[1] for problem in problems] == [
        "docs/b.md",
        "docs/a.md#nowhere",
        "../outside/API.md",
        "/etc/passwd",
    ]


CHINESE_PAGES = ["docs/zh-CN/api.md", "docs/zh-CN/design.md", "docs/zh-CN/operations.md", "docs/zh-CN/wechat.md"]
# [text](target): the text may hold one level of brackets; an image (![alt](...)) is no page.
LINK_WITH_TEXT = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
ENGLISH_MARK = "（英文）"


def chinese_sibling(page: str) -> str:
    """The Chinese page of an English one: README.md → README.zh-CN.md, docs/x.md → docs/zh-CN/x.md."""
    if page == "README.md":
        return "README.zh-CN.md"
    folder, _, name = page.rpartition("/")
    return f"{folder}/zh-CN/{name}" if folder == "docs" else ""


def links_to_english_pages(name: str) -> list[str]:
    """Links of a Chinese page that go to an English page: where a Chinese one exists, or unmarked.

    The language switch at the top of a page (`[English](...)`) is the one link meant to lead
    to the English page.
    """
    tracked = check_links.tracked_files()
    problems = []
    for number, line in check_links.prose_lines(read(name)):
        for match in LINK_WITH_TEXT.finditer(line):
            image, text, target = match.groups()
            file_part = target.partition("#")[0]
            if image or text == "English" or not file_part.endswith(".md") or check_links.EXTERNAL.match(target):
                continue
            page = check_links.resolve(name, file_part)
            if page is None or page == "README.zh-CN.md" or page.startswith("docs/zh-CN/"):
                continue
            where = f"{name}:{number}: {target}"
            if chinese_sibling(page) in tracked:
                problems.append(f"{where}: link to {chinese_sibling(page)} instead")
            elif not line[match.end() :].startswith(ENGLISH_MARK):
                problems.append(f"{where}: an English page: write {ENGLISH_MARK} after the link")
    return problems


def test_the_chinese_docs_are_all_there():
    tracked = check_links.tracked_files()
    assert [page for page in CHINESE_PAGES if page not in tracked] == []


@pytest.mark.parametrize("name", ["README.zh-CN.md", *CHINESE_PAGES])
def test_the_chinese_pages_link_to_chinese_pages_or_say_english(name):
    assert links_to_english_pages(name) == []


def test_the_chinese_link_check_finds_english_links(monkeypatch):
    text = (
        "[English](../api.md) [中文](design.md) [英文页](../benchmarks.md)（英文） [图](../dashboard.png)\n"
        "[设计](../design.md) [基准](../benchmarks.md) [自己](#设计) [外部](https://example.com/a.md)\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "read", lambda name: text)
    problems = links_to_english_pages("docs/zh-CN/api.md")
    assert [problem.split(": ", 2)[1] for problem in problems] == ["../design.md", "../benchmarks.md"]


def test_the_chinese_docs_keep_the_section_numbers_of_docs_wechat_md():
    assert SECTION.findall(read("docs/zh-CN/wechat.md")) == SECTION.findall(read("docs/wechat.md"))


BANNER_SECTION = re.compile(r"^\s*(README(?:\.zh-CN)?\.md)\s+§ (.+)$", re.MULTILINE)


def test_the_make_run_banner_names_sections_of_each_readme():
    named = BANNER_SECTION.findall(read("scripts/run-dev.sh"))
    assert {readme for readme, _ in named} == {"README.md", "README.zh-CN.md"}
    for readme, section in named:
        titles = [
            match.group(2)
            for _, line in check_links.prose_lines(read(readme), inline_code=True)
            if (match := check_links.HEADING.match(line))
        ]
        assert section in titles, f"scripts/run-dev.sh names a section {readme} does not have: {section}"
