"""`flask wx worker` logs in one format: every line it writes is one JSON object, RQ's own included."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import requests

from tests.helpers import GOOD_DATA, ONE_TIME, accept
from tests.processes.test_worker_metrics import redis_url
from tests.servers import BIN, ROOT, backend_env, gunicorn

__all__ = ["redis_url"]  # the fixture: the test Redis, emptied
pytestmark = pytest.mark.slow


def test_every_line_of_a_worker_delivering_is_json(database_url, emulator, client, user, templates, redis_url):
    accept(client, emulator, user)
    env = backend_env(database_url, emulator.url, REDIS_URL=redis_url)
    with gunicorn(env, workers=1, threads=2) as server:  # a job waits in Redis
        response = requests.post(
            f"{server.url}/api/v1/messages",
            json={"openid": user.openid, "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA},
            headers={"X-Api-Key": "test-api-key", "Prefer": "respond-async"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
    done = subprocess.run(
        [str(BIN / "flask"), "--app", "wsgi", "wx", "worker", "--burst"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # a plain line fails here
    loggers = {entry["logger"] for entry in entries}
    assert {"rq.worker", "backend.wechat"} <= loggers, loggers
    assert len(emulator.calls("subscribe_send")) == 1
