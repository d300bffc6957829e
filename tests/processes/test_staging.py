"""docs/operations.md's staging against the emulator, run as written: production settings, PostgreSQL,
Redis, gunicorn, `wx worker`, and `wx doctor --strict` green. Then one send goes through Redis to the
worker and gunicorn's /metrics counts it.

The test's own PostgreSQL and Redis replace the document's, and free ports its 8090 and 8000.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time

import pytest
import redis
import requests

from tests.conftest import POSTGRES_URL, REDIS_URL, reset_postgres
from tests.servers import ROOT, free_port

pytestmark = pytest.mark.slow

BLOCK = re.compile(r"<!-- staging:start -->\n```sh\n(.*?)```\n<!-- staging:end -->", re.DOTALL)


def staging_block(name: str) -> str:
    [block] = BLOCK.findall((ROOT / name).read_text(encoding="utf-8"))
    return block


def commands(block: str) -> list[str]:
    return [re.sub(r"\s+#\s.*$", "", line).rstrip() for line in block.splitlines()]


def test_both_languages_give_the_same_commands():
    assert commands(staging_block("docs/operations.md")) == commands(staging_block("docs/zh-CN/operations.md"))


@pytest.fixture
def services() -> tuple[str, str]:
    if not (POSTGRES_URL and REDIS_URL):
        pytest.skip("TEST_DATABASE_URL and TEST_REDIS_URL are needed")
    reset_postgres(POSTGRES_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()
    return POSTGRES_URL, REDIS_URL


def test_the_staging_commands_run_green(services, tmp_path):
    database_url, redis_url = services
    emulator_port, backend_port = free_port(), free_port()
    script = (
        staging_block("docs/operations.md")
        .replace("postgresql+psycopg://wxsub@127.0.0.1:5432/wxsub_staging", database_url)
        .replace("redis://127.0.0.1:6379/0", redis_url)
        .replace("8090", str(emulator_port))
        .replace("8000", str(backend_port))
    )
    env = {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    script += "\necho doctor-exit=$?\nwait\n"  # the servers keep running until the test stops them
    out, err = tmp_path / "stdout", tmp_path / "stderr"  # files: a full pipe would stall the servers
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen(
            ["bash", "-c", script], cwd=ROOT, env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
    try:
        backend = f"http://127.0.0.1:{backend_port}"
        deadline = time.monotonic() + 120
        while "doctor-exit=" not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text() + err.read_text()[-3000:]
            time.sleep(0.2)
        lines = out.read_text().splitlines()
        assert "doctor-exit=0" in lines, "\n".join(lines) + err.read_text()[-3000:]
        checks = [line for line in lines if re.match(r"^(ok|warn|FAIL|skip) ", line)]
        assert checks and all(line.startswith("ok ") for line in checks), "\n".join(checks)

        # One asynchronous send: queued in Redis, delivered by the worker, counted by gunicorn's /metrics.
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{backend}/healthz", timeout=2).json()["status"] == "ok":
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "gunicorn did not come up"
            time.sleep(0.2)
        emulator = f"http://127.0.0.1:{emulator_port}/_emulator"
        requests.post(
            f"{emulator}/templates",
            json={"priTmplId": "tmpl-staging", "title": "Staging", "type": 2, "keywords": [{"key": "thing1"}]},
            timeout=10,
        ).raise_for_status()
        code = requests.post(f"{emulator}/login_codes", json={}, timeout=10).json()
        login = requests.post(f"{backend}/api/v1/auth/login", json={"code": code["code"]}, timeout=10).json()
        requests.post(
            f"{emulator}/popup", json={"openid": code["openid"], "results": {"tmpl-staging": "accept"}}, timeout=10
        ).raise_for_status()  # pushed to the backend, safe mode: the credit
        sent = requests.post(
            f"{backend}/api/v1/messages",
            json={"user_id": login["user"]["id"], "template_id": "tmpl-staging", "data": {"thing1": "Kettle"}},
            headers={"X-Api-Key": "staging-api-key", "Prefer": "respond-async"},
            timeout=10,
        )
        assert sent.status_code == 202, sent.text
        while True:
            status = requests.get(
                f"{backend}/api/v1/messages/{sent.json()['id']}", headers={"X-Api-Key": "staging-api-key"}, timeout=10
            ).json()["status"]
            if status == "sent":
                break
            assert status in ("queued", "sending") and time.monotonic() < deadline + 30, status
            time.sleep(0.2)
        metrics = requests.get(f"{backend}/metrics", timeout=10).text
        assert re.search(r'wxsub_sends_total\{appid="wxd0000000000e0001",errcode="",outcome="sent"\} 1\.0', metrics)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
