"""Dev mode works only when the backend and the emulator agree on the emulator's identity.

Each keeps its own copy (backend/settings.py, wxemu/defaults.py) since neither may import the
other; this test is where the two copies meet.
"""

from __future__ import annotations

from backend import settings
from wxemu import defaults


def test_the_dev_appid_and_secret_are_the_emulators():
    assert (settings.DEV_APPID, settings.DEV_SECRET) == (defaults.DEV_APPID, defaults.DEV_SECRET)


def test_dev_mode_calls_the_emulator_on_its_default_port():
    assert settings.EMULATOR_PORT == defaults.DEFAULT_PORT
    url = settings.DEV_EMULATOR_URL  # where dev mode looks for WeChat
    assert url == f"http://127.0.0.1:{defaults.DEFAULT_PORT}"
