"""The settings table: config.py reads every setting through it; README tables and .env.example follow it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from backend.config import load_config
from backend.settings import GROUPS, SETTINGS, ConfigError
from scripts import settings_table

ROOT = Path(__file__).resolve().parents[1]
NUMERIC = [setting for setting in SETTINGS if setting.kind in ("int", "float")]
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_generated_file_is_in_step_with_the_table():
    for path, content in settings_table.expected_files().items():
        assert path.read_text(encoding="utf-8") == content, f"{path.name}: run python -m scripts.settings_table"


@pytest.mark.parametrize("readme", sorted(ROOT.glob("README*.md")), ids=lambda path: path.name)
def test_every_readme_has_the_table_in_its_language(readme):
    text = readme.read_text(encoding="utf-8")
    assert text.count(settings_table.START) == 1 and text.count(settings_table.END) == 1
    table = text.partition(settings_table.START)[2].partition(settings_table.END)[0]
    assert settings_table.markdown_table(settings_table.lang_of(readme)) in table
    for setting in SETTINGS:
        assert f"| `{setting.name}` |" in table


def test_env_example_lists_every_setting_empty():
    names = re.findall(r"^([A-Z_]+)=$", (ROOT / ".env.example").read_text(encoding="utf-8"), re.MULTILINE)
    assert names == [setting.name for setting in SETTINGS if setting.group in GROUPS]
    assert len(names) == len(SETTINGS)


def test_each_entry_is_complete():
    assert len({setting.name for setting in SETTINGS}) == len(SETTINGS)
    for setting in SETTINGS:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]+", setting.name)
        assert setting.group in GROUPS and setting.kind in ("text", "flag", "int", "float", "list")
        assert setting.en and not CJK.search(setting.en.split("(")[0]), setting.name
        assert CJK.search(setting.zh), f"{setting.name} has no Chinese text"
        assert bool(setting.unset_en) == bool(setting.unset_zh), setting.name


def test_config_holds_every_setting_with_its_default():
    config = load_config({})
    for setting in SETTINGS:
        if setting.name != "DATABASE_URL":  # it becomes SQLALCHEMY_DATABASE_URI
            expected = setting.dev_default if setting.dev_default is not None else setting.default
            assert config[setting.name] == expected, setting.name


def test_no_module_repeats_a_default():
    """Code reads `config["X"]`: a `config.get("X", 3)` elsewhere would be a second default."""
    names = "|".join(setting.name for setting in SETTINGS)
    repeated = re.compile(rf"""config(?:\.get\(|\[)\s*["']({names})["']\s*(?:,|[\])]\s*or\b)""")
    for path in (ROOT / "backend").rglob("*.py"):
        found = repeated.findall(path.read_text(encoding="utf-8"))
        assert not found, f"{path.relative_to(ROOT)} repeats the default of {found}"


@pytest.mark.parametrize("setting", NUMERIC, ids=lambda setting: setting.name)
@pytest.mark.parametrize("value", ["lots", "1e", "nan", "-1"])
def test_every_number_refuses_what_is_not_one(setting, value):
    with pytest.raises(ConfigError, match=f"^{setting.name} must be") as refused:
        load_config({setting.name: value})
    assert refused.value.variable == setting.name


@pytest.mark.parametrize("setting", NUMERIC, ids=lambda setting: setting.name)
def test_every_number_reads_a_number(setting):
    assert load_config({setting.name: " 7 "})[setting.name] == 7


@pytest.mark.parametrize(
    ("written", "used"),
    [
        ("postgres://u:p@db:5432/wx", "postgresql+psycopg://u:p@db:5432/wx"),
        ("postgresql://u@db/wx?sslmode=require", "postgresql+psycopg://u@db/wx?sslmode=require"),
        ("postgresql+psycopg://u@db/wx", "postgresql+psycopg://u@db/wx"),
        ("sqlite:////tmp/wx.sqlite3", "sqlite:////tmp/wx.sqlite3"),
    ],
)
def test_database_urls_are_normalised_to_psycopg3(written, used):
    assert load_config({"DATABASE_URL": written})["SQLALCHEMY_DATABASE_URI"] == used


def test_a_psycopg2_url_says_how_to_use_psycopg3():
    with pytest.raises(ConfigError, match=r"psycopg2.*write postgresql://"):
        load_config({"DATABASE_URL": "postgresql+psycopg2://u:secret-password@db/wx"})


def test_a_secret_setting_is_never_echoed():
    with pytest.raises(ConfigError) as refused:
        load_config({"REDIS_URL": "localhost:6379?password=hunter2"})
    assert "hunter2" not in str(refused.value)


def test_the_generator_writes_a_given_file_in_a_given_language(tmp_path, capsys):
    readme = tmp_path / "NOTES.md"
    readme.write_text(f"# Notes\n\n{settings_table.START}\nold\n{settings_table.END}\n\nafter\n", encoding="utf-8")
    assert settings_table.main([str(readme), "--lang", "zh-CN"]) == 0
    text = readme.read_text(encoding="utf-8")
    assert "| 变量 | 含义 | 默认值 |" in text and "old" not in text
    assert text.startswith("# Notes\n\n") and text.endswith(f"{settings_table.END}\n\nafter\n")
    assert settings_table.main([str(readme), "--lang", "zh-CN", "--check"]) == 0
    (tmp_path / "BARE.md").write_text("no markers\n", encoding="utf-8")
    assert settings_table.main([str(tmp_path / "BARE.md")]) == 1
    assert "lacks the markers" in capsys.readouterr().err


def test_env_example_says_each_setting_in_english_and_in_chinese():
    entries = (ROOT / ".env.example").read_text(encoding="utf-8").split("\n\n")
    settings = [entry for entry in entries if re.search(r"^[A-Z_]+=$", entry, re.MULTILINE)]
    assert len(settings) == len(SETTINGS)
    for entry in settings:
        comments = [line for line in entry.splitlines() if line.startswith("# ") and "=" not in line.split()[1]]
        said = " ".join(line[2:] for line in comments)
        assert "Default:" in said and "默认值：" in said.replace(" ", ""), entry


@pytest.mark.parametrize("width", [10, 24, 98])
def test_chinese_comments_wrap_between_characters_but_not_inside_code(width):
    text = "列出多个小程序的 TOML 文件（每个 `[[app]]` 含 `appid`、`secret`），代替 `WX_APPID`。默认值：无。"
    lines = settings_table.wrap_wide(text, width)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    for line in lines:
        assert line.count("`") % 2 == 0  # no code cut in two
        assert line[0] not in settings_table.CLOSING
        assert (
            settings_table._columns(line) <= width
            or len(re.findall(r"`[^`]*`|[!-~]+", line)) == 1
            or (line[-1] in settings_table.CLOSING)
        )
