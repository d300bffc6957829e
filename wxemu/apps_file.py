"""The apps the emulator hosts besides its default one, from the backend's apps file (TOML).

Read here with `tomllib` alone, as WeChat would know them: each `[[app]]`'s appid, AppSecret and
push keys (docs/wechat.md §12). The emulator takes nothing else of the backend's configuration.
"""

from __future__ import annotations

import tomllib

FIELDS = ("appid", "secret", "token", "encoding_aes_key")


class AppsFileError(ValueError):
    """The file can't be read or an app lacks its appid or secret."""


def read_apps_file(path: str) -> list[dict]:
    """`[{"appid", "secret", "token", "encoding_aes_key"}, ...]` from the file at `path`."""
    try:
        with open(path, "rb") as file:
            entries = tomllib.load(file).get("app")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise AppsFileError(f"{path}: {exc}") from None
    if not isinstance(entries, list) or not entries:
        raise AppsFileError(f"{path} lists no [[app]]")
    apps = []
    for number, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or not entry.get("appid") or not entry.get("secret"):
            raise AppsFileError(f"{path}: [[app]] #{number} needs an appid and a secret")
        apps.append({name: entry.get(name) or None for name in FIELDS})
    return apps
