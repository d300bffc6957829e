"""Fixtures for the HTTP tests: the app with message push configured, in either mode."""

from __future__ import annotations

import pytest

from tests.api.pushing import AES_KEY, TOKEN
from tests.helpers import reconfigure


@pytest.fixture
def push_app(app):
    """Plaintext mode: a Token, no EncodingAESKey."""
    reconfigure(app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=None)
    return app


@pytest.fixture
def safe_app(app):
    """Safe (or compatible) mode: a Token and an EncodingAESKey."""
    reconfigure(app, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=AES_KEY)
    return app
