"""The sends of `flask wx worker` are counted: by gunicorn's /metrics on one machine, on --metrics-port on another."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REDIS_URL
from tests.helpers import GOOD_DATA, ONE_TIME, accept
from tests.servers import BIN, ROOT, backend_env, free_port, gunicorn, wait_until_up
from wxemu.defaults import DEV_APPID

pytestmark = pytest.mark.slow

N = 3


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    redis.Redis.from_url(REDIS_URL).flushdb()
    return REDIS_URL


class Worker:
    """`flask --app wsgi wx worker` in its own process group; SIGTERM on exit."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(BIN / "flask"), "--app", "wsgi", "wx", "worker", *args],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def send_async(url: str, openid: str, times: int) -> None:
    """`times` sends answered 202 at once, then waited for until the worker sent them."""
    ids = []
    for _ in range(times):
        response = requests.post(
            f"{url}/api/v1/messages",
            json={"openid": openid, "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA},
            headers={"X-Api-Key": "test-api-key", "Prefer": "respond-async"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])
    deadline = time.monotonic() + 60
    for message_id in ids:
        while True:
            status = requests.get(
                f"{url}/api/v1/messages/{message_id}", headers={"X-Api-Key": "test-api-key"}, timeout=10
            ).json()["status"]
            if status == "sent":
                break
            assert status in ("queued", "sending") and time.monotonic() < deadline, status
            time.sleep(0.1)


def counted(text: str, name: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def sends_and_calls(text: str) -> tuple[float, float, float]:
    return (
        counted(text, "wxsub_sends_total", appid=DEV_APPID, outcome="sent"),
        counted(text, "wxsub_wechat_calls_total", appid=DEV_APPID, api="subscribe_send", result="0"),
        counted(text, "wxsub_wechat_call_seconds_count", appid=DEV_APPID, api="subscribe_send"),  # the dashboard's
    )


def test_a_worker_sharing_the_folder_is_counted_by_gunicorn_across_its_restarts(
    database_url, emulator, client, user, templates, redis_url, tmp_path
):
    accept(client, emulator, user, times=2 * N)
    env = backend_env(database_url, emulator.url, REDIS_URL=redis_url, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "m"))
    with Worker(env):
        with gunicorn(env, workers=1, threads=4) as server:
            send_async(server.url, user.openid, N)
            assert sends_and_calls(requests.get(f"{server.url}/metrics", timeout=10).text) == (N, N, N)
        # A deploy restarts gunicorn, not the worker: the worker's counts stay, and so do its next ones.
        with gunicorn(env, workers=1, threads=4) as server:
            send_async(server.url, user.openid, N)
            assert sends_and_calls(requests.get(f"{server.url}/metrics", timeout=10).text) == (2 * N, 2 * N, 2 * N)
    assert len(emulator.calls("subscribe_send")) == 2 * N


def test_a_worker_on_another_machine_serves_its_own_metrics(
    database_url, emulator, client, user, templates, redis_url, tmp_path
):
    accept(client, emulator, user, times=N)
    web = backend_env(database_url, emulator.url, REDIS_URL=redis_url, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "m"))
    port = free_port()
    with Worker({**web, "PROMETHEUS_MULTIPROC_DIR": ""}, "--metrics-port", str(port)) as worker:
        wait_until_up(f"http://127.0.0.1:{port}/metrics", worker.proc)
        with gunicorn(web, workers=1, threads=4) as server:
            send_async(server.url, user.openid, N)
            assert sends_and_calls(requests.get(f"{server.url}/metrics", timeout=10).text) == (0, 0, 0)
        assert sends_and_calls(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text) == (N, N, N)
