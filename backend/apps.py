"""The mini programs this backend serves: one from the `WX_*` variables, or several from `WX_APPS_FILE`.

Each `MiniProgram` carries everything that is per app at WeChat (docs/wechat.md §12): its AppSecret, its
own WeChat client with its own access token (stored under its appid, refreshed under its own
lock), its push Token and EncodingAESKey, and the business keys that may act for it alone.
There is no default app and no thread-local: a request's app is resolved from what it names
(the session token, the `appid` of a body or a query, the push URL) and handed down explicitly.
"""

from __future__ import annotations

import hmac
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from backend.settings import MINIPROGRAM_STATES, ConfigError, check_encoding_aes_key, check_webhook_settings
from backend.wechat import WeChatClient

# The one-app variables that WX_APPS_FILE replaces (WX_MINIPROGRAM_STATE and WX_TOKEN_API stay
# the defaults of every app of the file).
ONE_APP_VARIABLES = ("WX_APPID", "WX_SECRET", "WX_TOKEN", "WX_ENCODING_AES_KEY")
_FILE_KEYS = frozenset(
    {
        "appid",
        "secret",
        "name",
        "token",
        "encoding_aes_key",
        "miniprogram_state",
        "api_keys",
        "webhook_url",
        "webhook_secret",
        "prompt_templates",
        *(name.lower() for name in ("RETAIN_MESSAGE_VALUES_DAYS", "RETAIN_EVENTS_DAYS", "RETAIN_WEBHOOK_EVENTS_DAYS")),
    }
)
# Retention settings an app of the file may set for itself (key: the setting's name in lower case).
RETENTION_SETTINGS = ("RETAIN_MESSAGE_VALUES_DAYS", "RETAIN_EVENTS_DAYS", "RETAIN_WEBHOOK_EVENTS_DAYS")


@dataclass(frozen=True)
class MiniProgramSettings:
    """One app as configured; `token` and `encoding_aes_key` are its message-push keys."""

    appid: str
    secret: str = field(repr=False)
    name: str = ""
    token: str | None = field(default=None, repr=False)
    encoding_aes_key: str | None = field(default=None, repr=False)
    miniprogram_state: str = "formal"
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    # Its own webhook receiver; without them its events go to WEBHOOK_URL (the URL may hold a token).
    webhook_url: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    # The templates its mini program should ask for when the user has no credit (GET /api/v1/me/prompts).
    prompt_templates: tuple[str, ...] = ()
    # Its own retention, in days, by setting name (RETENTION_SETTINGS); the others are the global ones.
    retention: tuple[tuple[str, int], ...] = ()


class MiniProgram:
    """A configured mini program with its own WeChat client."""

    def __init__(self, settings: MiniProgramSettings, client: WeChatClient) -> None:
        self.settings = settings
        self.client = client

    appid = property(lambda self: self.settings.appid)
    name = property(lambda self: self.settings.name or self.settings.appid)
    push_token = property(lambda self: self.settings.token)
    encoding_aes_key = property(lambda self: self.settings.encoding_aes_key)
    miniprogram_state = property(lambda self: self.settings.miniprogram_state)
    prompt_templates = property(lambda self: self.settings.prompt_templates)

    def __repr__(self) -> str:  # never the secret or a key
        return f"<MiniProgram {self.appid}>"


class MiniPrograms:
    """The apps by appid, and which apps each business key may act for."""

    def __init__(self, apps: list[MiniProgram], all_apps_keys: list[str]) -> None:
        self._apps = {mini_program.appid: mini_program for mini_program in apps}
        self._all_apps_keys = tuple(all_apps_keys)
        self._key_app = {key: mini_program.appid for mini_program in apps for key in mini_program.settings.api_keys}

    def __iter__(self) -> Iterator[MiniProgram]:
        return iter(self._apps.values())

    def __len__(self) -> int:
        return len(self._apps)

    def get(self, appid: str) -> MiniProgram | None:
        return self._apps.get(appid)

    def appids(self) -> list[str]:
        return list(self._apps)

    def only(self) -> MiniProgram:
        """The app of a one-app setup. For code that cannot know its app yet (rows carry no app so
        far); with several apps this raises instead of guessing."""
        if len(self._apps) != 1:
            raise LookupError("several apps are configured: the caller must name its app")
        return next(iter(self._apps.values()))

    def key_scope(self, given: str) -> tuple[str, ...] | None:
        """The appids `given` may act for (every app for a BUSINESS_API_KEYS key); None: no such key.

        Every key is compared in constant time, so the answer's timing does not tell a prefix.
        """
        scope: tuple[str, ...] | None = None
        for key in self._all_apps_keys:
            if hmac.compare_digest(given.encode(), key.encode()):
                scope = tuple(self._apps)
        for key, appid in self._key_app.items():
            if hmac.compare_digest(given.encode(), key.encode()):
                scope = (appid,)
        return scope


# -- reading the configuration ---------------------------------------------------------------


def app_settings(config: Mapping[str, Any]) -> list[MiniProgramSettings]:
    """The apps a config describes: those of WX_APPS_FILE, or the one of the WX_* variables.

    Raises ConfigError (one line, naming the variable or the file) for a file that can't be
    read, both ways set at once, an app without appid or secret, an appid twice, a business
    key listed for two apps (or also in BUSINESS_API_KEYS).
    """
    path = config.get("WX_APPS_FILE")
    if not path:
        return [
            MiniProgramSettings(
                appid=config["WX_APPID"],
                secret=config["WX_SECRET"],
                token=config.get("WX_TOKEN"),
                encoding_aes_key=config.get("WX_ENCODING_AES_KEY"),
                miniprogram_state=config["WX_MINIPROGRAM_STATE"],
                prompt_templates=tuple(config["WX_PROMPT_TEMPLATES"]),
            )
        ]
    both = [name for name in ONE_APP_VARIABLES if config.get(name)]
    if both:
        raise ConfigError("WX_APPS_FILE", f"is set, and so is {', '.join(both)}: configure the apps in one place")
    apps = [_read_app(entry, index, config) for index, entry in enumerate(_read_file(path))]
    _check_unique(apps, config["BUSINESS_API_KEYS"])
    return apps


def _read_file(path: str) -> list[Any]:
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as exc:
        raise ConfigError("WX_APPS_FILE", f"{path!r} can't be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("WX_APPS_FILE", f"{path!r} is not valid TOML: {exc}") from None
    entries = document.get("app")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("WX_APPS_FILE", f"{path!r} lists no [[app]]")
    return entries


def _read_app(entry: Any, index: int, config: Mapping[str, Any]) -> MiniProgramSettings:
    where = f"[[app]] #{index + 1}"
    if not isinstance(entry, dict):
        raise ConfigError("WX_APPS_FILE", f"{where} is not a table")
    unknown = sorted(set(entry) - _FILE_KEYS)
    if unknown:
        raise ConfigError("WX_APPS_FILE", f"{where} has unknown keys: {', '.join(unknown)}")

    def text(name: str, required: bool = False) -> str | None:
        value = entry.get(name)
        if value is None or value == "":
            if required:
                raise ConfigError("WX_APPS_FILE", f"{where} has no {name}")
            return None
        if not isinstance(value, str):
            raise ConfigError("WX_APPS_FILE", f"{where}: {name} must be a string")
        return value.strip()

    appid = text("appid", required=True)
    where = f"[[app]] {appid}"
    secret = text("secret", required=True)
    aes_key = text("encoding_aes_key")
    if aes_key is not None:
        try:
            check_encoding_aes_key(aes_key)
        except ConfigError as exc:
            raise ConfigError("WX_APPS_FILE", f"{where}: encoding_aes_key {str(exc).split(' ', 1)[1]}") from None
    state = text("miniprogram_state") or config["WX_MINIPROGRAM_STATE"]
    if state not in MINIPROGRAM_STATES:
        raise ConfigError("WX_APPS_FILE", f"{where}: miniprogram_state must be one of {', '.join(MINIPROGRAM_STATES)}")
    keys = entry.get("api_keys", [])
    if not isinstance(keys, list) or not all(isinstance(key, str) and key.strip() for key in keys):
        raise ConfigError("WX_APPS_FILE", f"{where}: api_keys must be a list of non-empty strings")
    prompts = entry.get("prompt_templates", config["WX_PROMPT_TEMPLATES"])
    if not isinstance(prompts, list) or not all(isinstance(t, str) and t.strip() for t in prompts):
        raise ConfigError("WX_APPS_FILE", f"{where}: prompt_templates must be a list of template ids")
    webhook_url, webhook_secret = text("webhook_url"), text("webhook_secret")
    try:
        check_webhook_settings(webhook_url, webhook_secret, "webhook_url", "webhook_secret")
    except ConfigError as exc:  # names the key, never shows the secret
        raise ConfigError("WX_APPS_FILE", f"{where}: {exc}") from None
    retention = {}
    for name in RETENTION_SETTINGS:
        days = entry.get(name.lower())
        if days is None:
            continue
        if isinstance(days, bool) or not isinstance(days, int) or days <= 0:
            raise ConfigError("WX_APPS_FILE", f"{where}: {name.lower()} must be a whole number of days, more than 0")
        retention[name] = days
    return MiniProgramSettings(
        appid=appid,
        secret=secret,
        name=text("name") or "",
        token=text("token"),
        encoding_aes_key=aes_key,
        miniprogram_state=state,
        api_keys=tuple(key.strip() for key in keys),
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        prompt_templates=tuple(t.strip() for t in prompts),
        retention=tuple(retention.items()),
    )


def _check_unique(apps: list[MiniProgramSettings], all_apps_keys: list[str]) -> None:
    seen: set[str] = set()
    for mini_program in apps:
        if mini_program.appid in seen:
            raise ConfigError("WX_APPS_FILE", f"lists the appid {mini_program.appid} twice")
        seen.add(mini_program.appid)
    owner: dict[str, str] = dict.fromkeys(all_apps_keys, "BUSINESS_API_KEYS")
    for mini_program in apps:
        for number, key in enumerate(mini_program.api_keys, 1):
            if key in owner:  # the key itself is a secret: name where it is, never what it is
                raise ConfigError(
                    "WX_APPS_FILE",
                    f"[[app]] {mini_program.appid}: api_keys #{number} is also a key of {owner[key]}: "
                    "a key acts for one app, or for every app from BUSINESS_API_KEYS",
                )
            owner[key] = mini_program.appid


def build_registry(config: Mapping[str, Any], make_client) -> MiniPrograms:
    """The registry of `config`'s apps, each with the client `make_client(settings)` builds."""
    apps = [MiniProgram(settings, make_client(settings)) for settings in app_settings(config)]
    return MiniPrograms(apps, list(config["BUSINESS_API_KEYS"]))
