"""What the command line says to an operator, in the machine's language.

Every line `flask --app wsgi wx …` prints for a person (`wx doctor`'s findings, each command's
messages and one-line errors, click's own usage errors, `--help`) is an English template said
through `Text(...)` or `say(...)` (a command's help: its docstring and its options' help=, by
`SaidHelp`): Simplified Chinese when LC_ALL, LC_MESSAGES or LANG names it
(`LANG=zh_CN.UTF-8`), from the one catalogue backend/i18n/cli_zh_cn.py (CLI_CATALOGUES), else
English. A template missing from the catalogue is said in English; tests/test_cli_i18n.py
names it. Output for scripts (JSON) and setting names, ids and errcodes stay as they are.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import click
from flask.cli import AppGroup

from backend import i18n


@dataclass(frozen=True)
class Text:
    """An English template and its values, said in a language only when printed."""

    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, template: str, **params: Any) -> None:
        object.__setattr__(self, "template", template)
        object.__setattr__(self, "params", params)

    def say(self, language: str | None = None) -> str:
        """The text in `language`, by default the machine's (LANG)."""
        language = language or i18n.language_of_environment()
        params = {
            name: value.say(language) if isinstance(value, Text) else value for name, value in self.params.items()
        }
        return i18n.translate(self.template, language, params, catalogues=i18n.CLI_CATALOGUES).text

    def __str__(self) -> str:
        return self.say(i18n.ENGLISH)


def say(template: str, **params: Any) -> str:
    """`template` with its {placeholders} filled, in the machine's language: what a command prints."""
    return Text(template, **params).say()


def click_gettext(message: str) -> str:
    """Click's own message `message` (its gettext msgid) in the machine's language."""
    return i18n.translate(message, i18n.language_of_environment(), catalogues=i18n.CLI_CATALOGUES).text


def click_ngettext(singular: str, plural: str, count: int) -> str:
    return click_gettext(singular if count == 1 else plural)


def speak_through_click() -> None:
    """Let click's usage errors ("Missing option", "No such option", "Error: …", "Try … for help")
    follow the machine's language too.

    Click says them through gettext's `_` and `ngettext`, bound in each of its modules when it is
    imported, and ships no translations: its msgids are keys of the same catalogue, and its
    modules' `_` look them up there. Idempotent; with an English locale nothing changes.
    """
    import click.core
    import click.decorators
    import click.exceptions
    import click.formatting
    import click.parser
    import click.termui
    import click.types

    for module in (
        click.core,
        click.decorators,
        click.exceptions,
        click.formatting,
        click.parser,
        click.termui,
        click.types,
    ):
        if hasattr(module, "_"):
            module._ = click_gettext
        if hasattr(module, "ngettext"):
            module.ngettext = click_ngettext


def help_key(text: str) -> str:
    """How the catalogue keys a command's or an option's help: each paragraph on one line (click
    wraps paragraphs again when it prints them), the docstring's part after a form feed left out."""
    paragraphs = inspect.cleandoc(text).partition("\f")[0].split("\n\n")
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


@contextlib.contextmanager
def _said_attribute(holder: Any, name: str) -> Iterator[None]:
    """`holder.name` (a help text) in the machine's language while click formats it."""
    original = getattr(holder, name, None)
    if original:
        setattr(holder, name, click_gettext(help_key(original)))
    try:
        yield
    finally:
        if original:
            setattr(holder, name, original)


class SaidHelp:
    """Mixed into a click command or group: `--help` in the machine's language, from the catalogue
    (its docstring, its options' help and, for a group, its commands' short help)."""

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with _said_attribute(self, "help"):
            super().format_help_text(ctx, formatter)  # type: ignore[misc]

    def get_short_help_str(self, limit: int = 45) -> str:
        with _said_attribute(self, "help"), _said_attribute(self, "short_help"):
            return super().get_short_help_str(limit)  # type: ignore[misc]

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with contextlib.ExitStack() as said:
            for param in self.get_params(ctx):  # type: ignore[attr-defined]
                said.enter_context(_said_attribute(param, "help"))
            super().format_options(ctx, formatter)  # type: ignore[misc]


class SaidCommand(SaidHelp, click.Command):
    """A command whose --help follows the machine's language (the groups' `command_class`)."""


class SaidGroup(SaidHelp, AppGroup):
    """A group of commands whose --help, and its commands', follow the machine's language."""

    command_class = SaidCommand


SaidGroup.group_class = SaidGroup  # wx.group(...) makes one too
