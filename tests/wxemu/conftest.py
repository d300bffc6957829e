"""Fixtures for the emulator's own tests: a Flask test client over a fresh EmulatorState.

Independent of tests/conftest.py: no database, no server thread.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from tests.wxemu.samples import ORDER_TEMPLATE
from wxemu import EmulatorState, create_emulator_app
from wxemu.defaults import DEV_APPID, DEV_SECRET


@pytest.fixture
def state() -> EmulatorState:
    return EmulatorState()


@pytest.fixture
def emulator(state) -> FlaskClient:
    """The emulator app's test client, over `state`."""
    return create_emulator_app(state).test_client()


@pytest.fixture
def stable_token(emulator) -> Callable[..., dict]:
    """Call cgi-bin/stable_token with the right credentials; returns the JSON reply."""

    def call(force_refresh: bool | None = None) -> dict:
        body = {"grant_type": "client_credential", "appid": DEV_APPID, "secret": DEV_SECRET}
        if force_refresh is not None:
            body["force_refresh"] = force_refresh
        return emulator.post("/cgi-bin/stable_token", json=body).get_json()

    return call


@pytest.fixture
def classic_token(emulator) -> Callable[[], dict]:
    """Call cgi-bin/token with the right credentials; returns the JSON reply."""

    def call() -> dict:
        query = {"grant_type": "client_credential", "appid": DEV_APPID, "secret": DEV_SECRET}
        return emulator.get("/cgi-bin/token", query_string=query).get_json()

    return call


@pytest.fixture
def token(stable_token) -> str:
    """A valid access token."""
    return stable_token()["access_token"]


@pytest.fixture
def make_user(emulator) -> Callable[..., str]:
    """Create a user through the control API; returns the openid."""

    def create(**fields: str) -> str:
        return emulator.post("/_emulator/users", json=fields).get_json()["openid"]

    return create


@pytest.fixture
def make_template(emulator) -> Callable[..., str]:
    """Register a private template through the control API; returns its priTmplId."""

    def create(template: dict | None = None, **overrides: object) -> str:
        body = {**(template or ORDER_TEMPLATE), **overrides}
        response = emulator.post("/_emulator/templates", json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["priTmplId"]

    return create


@pytest.fixture
def accept(emulator) -> Callable[[str, str], dict]:
    """The user accepts a template in a subscribe popup; returns their subscriptions."""

    def popup(openid: str, template_id: str, result: str = "accept") -> dict:
        body = {"openid": openid, "results": {template_id: result}}
        return emulator.post("/_emulator/popup", json=body).get_json()["subscriptions"]

    return popup


@pytest.fixture
def send(emulator, token) -> Callable[..., dict]:
    """POST subscribe/send with a valid token; returns the JSON reply."""

    def call(access_token: str | None = None, **body: object) -> dict:
        url = f"/cgi-bin/message/subscribe/send?access_token={access_token or token}"
        return emulator.post(url, json=body).get_json()

    return call
