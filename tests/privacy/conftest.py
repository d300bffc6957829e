"""Fixtures for personal data: an app whose webhooks reach a receiver and whose erasure log is
the test's own, without message push (the push tests turn it on)."""

from __future__ import annotations

import pytest

from backend import create_app
from backend.extensions import db
from tests.test_webhooks import SECRET, Receiver, hooked_config


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture
def erasure_log(tmp_path):
    return tmp_path / "erasures.log"


@pytest.fixture
def private_app(database_url, emulator, receiver, erasure_log):
    config = hooked_config(database_url, emulator, receiver, ERASURE_LOG=str(erasure_log))
    app = create_app(config)
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def private(private_app):
    return private_app.test_client()


__all__ = ["SECRET"]
