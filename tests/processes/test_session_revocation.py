"""A logout reaches every gunicorn worker through Redis, long before the version cache runs out."""

from __future__ import annotations

import time

import pytest
import requests

from tests.conftest import REDIS_URL, app_config, running_app
from tests.helpers import assert_error, log_in
from tests.servers import backend_env, gunicorn

SECRET = "session-revocation-test-secret-32-chars"


@pytest.mark.slow
@pytest.mark.redis
def test_a_logged_out_token_is_refused_by_other_processes_through_redis(database_url, emulator):
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    config = app_config(database_url, emulator.url, REDIS_URL=REDIS_URL, SECRET_KEY=SECRET)
    # The workers trust a version they read for an hour: only the message can make them refuse it.
    env = backend_env(database_url, emulator.url, REDIS_URL=REDIS_URL, SECRET_KEY=SECRET, SESSION_VERSION_TTL="3600")
    with running_app(config) as app, gunicorn(env, workers=2, threads=2) as server:
        client = app.test_client()
        user = log_in(client, emulator)
        http = requests.Session()

        def status() -> int:
            return http.get(f"{server.url}/api/v1/me", headers=user.auth, timeout=10).status_code

        assert [status() for _ in range(20)] == [200] * 20  # both workers start their listeners
        # A listener forgets every version once subscribed: let them subscribe first, so that only
        # the logout's message can void what the workers hold from here on (not a timing: a margin).
        time.sleep(1.0)
        assert [status() for _ in range(20)] == [200] * 20  # both workers hold the version, most likely
        assert client.post("/api/v1/auth/logout", headers=user.auth).status_code == 204  # this process
        refused_in_a_row = 0
        for _ in range(400):  # bounded wait for the message, not a timing
            refused_in_a_row = refused_in_a_row + 1 if status() == 401 else 0
            if refused_in_a_row == 20:  # every worker refuses it
                break
            time.sleep(0.025)
        else:
            pytest.fail("a worker still takes the logged-out user's token")
        assert_error(client.get("/api/v1/me", headers=user.auth), 401, "unauthorized")
