"""Every `flask wx ...` command ends in one `Error: ...` line when WeChat, the database or Redis is down.

Each runs as an operator runs it (`flask --app wsgi wx ...` in a process of its own), with the one
service it needs pointed at a port nothing listens on; stderr has no traceback, and its last
line (after any log lines) is the one `Error: ...`.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from tests.conftest import app_config, running_app
from tests.helpers import ONE_TIME, accept, log_in
from tests.servers import BIN, ROOT, free_port

pytestmark = pytest.mark.slow

OPENID = "oCliUser0000000000000000001"
SEND = ["--template", ONE_TIME["priTmplId"], "--data", "thing1=Kettle"]
COMMANDS = {
    "templates sync": ["templates", "sync"],
    "apps": ["apps"],
    "send": ["send", "--openid", OPENID, *SEND, "--data", "time2=15:01"],
    "worker": ["worker", "--burst"],
    "sweep": ["sweep"],
    "unknown": ["unknown"],
    "webhooks": ["webhooks"],
    "webhooks replay": ["webhooks", "--replay-all-failing"],
    "send-batch": ["send-batch", "recipients.csv", *SEND],
}
# Which command needs which service: each is tested with that one down (the others up).
NEEDS = {
    "wechat": ["templates sync", "send", "send-batch"],
    "database": list(COMMANDS),
    "redis": ["worker"],  # the others do without Redis (README: When Redis or the database is down)
}
CASES = [(down, name) for down, names in NEEDS.items() for name in names]


@pytest.fixture
def database(tmp_path, emulator, templates) -> dict[str, str]:
    """A database with a user and the synced templates, and a CSV naming that user: everything a
    command needs but the service that is down."""
    (tmp_path / "recipients.csv").write_text(f"openid,time2\n{OPENID},15:01\n", encoding="utf-8")
    database_url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    with running_app(app_config(database_url, emulator.url)) as app:
        client = app.test_client()
        accept(client, emulator, log_in(client, emulator, openid=OPENID))  # a send reaches WeChat
        assert app.test_cli_runner().invoke(args=["wx", "templates", "sync"]).exit_code == 0
    return base_env(tmp_path, database_url)


def base_env(folder, database_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(ROOT),
        "CLI_FOLDER": str(folder),
        "DATABASE_URL": database_url,
        "WX_API_BASE": f"http://127.0.0.1:{free_port()}",  # in the cases where WeChat is up, it is not asked
        "BUSINESS_API_KEYS": "test-api-key",
        "WX_RETRY_BACKOFF": "0",
        "WX_CONNECT_TIMEOUT": "1",
    }


def run_with_one_down(env: dict[str, str], down: str, name: str) -> tuple[int, str, list[str]]:
    """The command `name` run with the service `down` down: (exit status, stdout, stderr's lines)."""
    env = dict(env)
    if down == "database":
        env["DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/wxsub"
    if down == "redis":
        env["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    args = [str(BIN / "flask"), "--app", "wsgi", "wx", *COMMANDS[name]]
    args = [arg.replace("recipients.csv", f"{env['CLI_FOLDER']}/recipients.csv") for arg in args]
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{name} did not stop with {down} down\n{err}")
    assert "Traceback" not in err, err
    assert proc.returncode != 0, out
    return proc.returncode, out, [line for line in err.splitlines() if line.strip()]  # log lines may come first


@pytest.mark.parametrize(("down", "name"), CASES, ids=[f"{down}-{name}" for down, name in CASES])
def test_a_command_fails_in_one_line(database, down, name):
    _, _, lines = run_with_one_down(database, down, name)
    assert lines and lines[-1].startswith("Error: "), lines
    assert [line for line in lines if line.startswith("Error")] == lines[-1:], lines


# Under a Chinese locale the one line is Chinese; the setting to check keeps its name.
CHINESE_CASES = {
    ("database", "apps"): "错误：DATABASE_URL：无法使用数据库：",
    ("wechat", "templates sync"): "错误：WX_API_BASE：微信没有响应（",
    ("wechat", "send-batch"): "错误：WX_API_BASE：1 条消息中有 1 条微信没有响应：请检查网络",
    ("redis", "worker"): "错误：REDIS_URL：redis://127.0.0.1:",
    ("database", "webhooks replay"): "错误：DATABASE_URL：无法使用数据库：",
}


@pytest.mark.parametrize(("down", "name"), CHINESE_CASES, ids=[f"{down}-{name}" for down, name in CHINESE_CASES])
def test_a_command_fails_in_one_chinese_line(database, down, name):
    _, _, lines = run_with_one_down({**database, "LANG": "zh_CN.UTF-8"}, down, name)
    assert lines and lines[-1].startswith(CHINESE_CASES[down, name]), lines
    assert [line for line in lines if line.startswith(("错误", "Error"))] == lines[-1:], lines
    if down == "redis":
        assert lines[-1].endswith("上的 Redis 没有响应（ConnectionError）"), lines
