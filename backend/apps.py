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
from collections.abc import Callable, Iterator, Mapping
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
    push_appid = property(lambda self: self.settings.appid)  # the appid inside its encrypted pushes
    state_word = "configured"  # an app of the configuration (a platform's merchants say more)
    usable = True

    def __repr__(self) -> str:  # never the secret or a key
        return f"<MiniProgram {self.appid}>"


class MiniPrograms:
    """The apps by appid, and which apps each business key may act for.

    The apps of the configuration, and with a third-party platform (`platform`: backend/component/
    merchants.py) the merchants' apps that authorized it, read from the database. Keys made by
    `wx keys add --app` are looked up through `stored_key` (its appid, or None).
    """

    def __init__(
        self,
        apps: list[MiniProgram],
        all_apps_keys: list[str],
        platform: Any = None,
        stored_key: Callable[[str], str | None] | None = None,
    ) -> None:
        self._apps = {mini_program.appid: mini_program for mini_program in apps}
        self._all_apps_keys = tuple(all_apps_keys)
        self._key_app = {key: mini_program.appid for mini_program in apps for key in mini_program.settings.api_keys}
        self.platform = platform
        self.stored_key = stored_key

    def _all(self) -> list[MiniProgram]:
        merchants = self.platform.all() if self.platform is not None else []
        return [*self._apps.values(), *(app for app in merchants if app.appid not in self._apps)]

    def __iter__(self) -> Iterator[MiniProgram]:
        return iter(self._all())

    def configured(self) -> list[MiniProgram]:
        """The apps of the configuration only (no database read)."""
        return list(self._apps.values())

    def __len__(self) -> int:
        return len(self._all())

    def get(self, appid: str) -> MiniProgram | None:
        found = self._apps.get(appid)
        if found is None and self.platform is not None:
            found = self.platform.get(appid)
        return found

    def appids(self) -> list[str]:
        return list(self._apps)

    def only(self) -> MiniProgram:
        """The app of a one-app setup. For code that cannot know its app yet (rows carry no app so
        far); with several apps this raises instead of guessing."""
        apps = self._all()
        if len(apps) != 1:
            raise LookupError("several apps are configured: the caller must name its app")
        return apps[0]

    def key_scope(self, given: str) -> tuple[str, ...] | None:
        """The appids `given` may act for (every app for a BUSINESS_API_KEYS key); None: no such key.

        Every key is compared in constant time, so the answer's timing does not tell a prefix.
        """
        scope: tuple[str, ...] | None = None
        for key in self._all_apps_keys:
            if hmac.compare_digest(given.encode(), key.encode()):
                scope = tuple(app.appid for app in self._all())
        for key, appid in self._key_app.items():
            if hmac.compare_digest(given.encode(), key.encode()):
                scope = (appid,)
        if scope is None and self.stored_key is not None:
            appid = self.stored_key(given)  # by its SHA-256: nothing to time
            scope = (appid,) if appid is not None else None
        return scope


# -- reading the configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class ComponentSettings:
    """A third-party platform (docs/wechat.md §14): its AppID, AppSecret, and the Token and key of its pushes."""

    appid: str
    secret: str = field(repr=False)
    token: str = field(repr=False)
    encoding_aes_key: str = field(repr=False)


COMPONENT_VARIABLES = ("WX_COMPONENT_APPID", "WX_COMPONENT_SECRET", "WX_COMPONENT_TOKEN", "WX_COMPONENT_AES_KEY")
_COMPONENT_KEYS = {"appid": 0, "secret": 1, "token": 2, "encoding_aes_key": 3}


def component_settings(config: Mapping[str, Any]) -> ComponentSettings | None:
    """The platform of `WX_COMPONENT_*`, or of the apps file's `[component]` table; None without one.

    Raises ConfigError for a platform described half, or in both places.
    """
    given = [config.get(name) for name in COMPONENT_VARIABLES]
    table = _read_document(config["WX_APPS_FILE"]).get("component") if config.get("WX_APPS_FILE") else None
    if table is not None:
        if any(given):
            raise ConfigError("WX_APPS_FILE", "has a [component] table, and WX_COMPONENT_* are set: configure it once")
        if not isinstance(table, dict) or set(table) - set(_COMPONENT_KEYS):
            raise ConfigError("WX_APPS_FILE", f"[component] takes only {', '.join(_COMPONENT_KEYS)}")
        given = [table.get(key) for key in _COMPONENT_KEYS]
        names = [f"[component] {key}" for key in _COMPONENT_KEYS]
    else:
        names = list(COMPONENT_VARIABLES)
    if not any(given):
        return None
    for name, value in zip(names, given, strict=True):
        if not isinstance(value, str) or not value.strip():
            where = "WX_APPS_FILE" if table is not None else name
            raise ConfigError(
                where,
                f"{'lacks ' + name if table is not None else 'is not set'}: a platform needs "
                "its AppID, AppSecret, Token and EncodingAESKey",
            )
    try:
        check_encoding_aes_key(given[3].strip())
    except ConfigError as exc:
        raise ConfigError(names[3] if table is None else "WX_APPS_FILE", str(exc).split(" ", 1)[1]) from None
    appid, secret, token, key = (value.strip() for value in given)
    return ComponentSettings(appid, secret, token, key)


def app_settings(config: Mapping[str, Any]) -> list[MiniProgramSettings]:
    """The apps a config describes: those of WX_APPS_FILE, or the one of the WX_* variables
    (none, for a third-party platform without apps of its own).

    Raises ConfigError (one line, naming the variable or the file) for a file that can't be
    read, both ways set at once, an app without appid or secret, an appid twice, a business
    key listed for two apps (or also in BUSINESS_API_KEYS).
    """
    path = config.get("WX_APPS_FILE")
    if not path and not config.get("WX_APPID") and config.get("WX_COMPONENT_APPID"):
        return []  # only the merchants' apps, from their authorizations
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
    entries = _read_file(path)
    apps = [_read_app(entry, index, config) for index, entry in enumerate(entries)]
    _check_unique(apps, config["BUSINESS_API_KEYS"])
    return apps


def _read_document(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise ConfigError("WX_APPS_FILE", f"{path!r} can't be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("WX_APPS_FILE", f"{path!r} is not valid TOML: {exc}") from None


def _read_file(path: str) -> list[Any]:
    document = _read_document(path)
    entries = document.get("app")
    if entries is None and "component" in document:
        return []  # a platform's file: its apps come from authorizations
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


def build_registry(config: Mapping[str, Any], make_client, platform: Any = None, stored_key=None) -> MiniPrograms:
    """The registry of `config`'s apps, each with the client `make_client(settings)` builds, and a platform's."""
    apps = [MiniProgram(settings, make_client(settings)) for settings in app_settings(config)]
    return MiniPrograms(apps, list(config["BUSINESS_API_KEYS"]), platform, stored_key)
