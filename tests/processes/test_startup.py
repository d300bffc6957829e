"""Start-up as an operator meets it: `flask --app wsgi …` and `gunicorn wsgi:app` in a clean environment.

Every configuration mistake ends in one line on stderr naming the variable, a non-zero exit
and no traceback; the three spellings of a PostgreSQL URL all work.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import sqlalchemy as sa

from backend.ops.startup import check_or_exit, create_app_or_exit
from backend.settings import BY_NAME, SETTINGS
from tests.conftest import POSTGRES_URL, reset_postgres
from tests.helpers import TEST_DATA_KEY
from tests.servers import BIN, ROOT

pytestmark = pytest.mark.slow

GOOD_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
PRODUCTION = {
    "WX_APPID": "wx1234567890abcdef",
    "WX_SECRET": "an-app-secret",
    "SECRET_KEY": "s" * 32,
    "DATA_KEY": TEST_DATA_KEY,
}
RUN_SECONDS = 60  # a bound, not a timing: a start-up that does not fail would otherwise serve forever

MISTAKES = {
    "short SECRET_KEY": ({**PRODUCTION, "SECRET_KEY": "eight-ch-secret"}, "SECRET_KEY"),
    "missing SECRET_KEY": ({**PRODUCTION, "SECRET_KEY": ""}, "SECRET_KEY"),
    "missing DATA_KEY": ({**PRODUCTION, "DATA_KEY": ""}, "DATA_KEY"),
    "DATA_KEY not base64": ({**PRODUCTION, "DATA_KEY": "a-data-key-that-is-not-base64!"}, "DATA_KEY"),
    "AES key of 42 characters": ({"WX_ENCODING_AES_KEY": GOOD_AES_KEY[:-1]}, "WX_ENCODING_AES_KEY"),
    "AES key not base64": ({"WX_ENCODING_AES_KEY": "!" * 43}, "WX_ENCODING_AES_KEY"),
    "AppID without AppSecret": ({"WX_APPID": "wx1234567890abcdef"}, "WX_SECRET"),
    "AppSecret without AppID": ({"WX_SECRET": "an-app-secret"}, "WX_APPID"),
    "a number that isn't one": ({"WX_READ_TIMEOUT": "soon"}, "WX_READ_TIMEOUT"),
    "a whole number that isn't one": ({"DB_POOL_SIZE": "2.5"}, "DB_POOL_SIZE"),
    "a bad choice": ({"WX_MINIPROGRAM_STATE": "beta"}, "WX_MINIPROGRAM_STATE"),
    "a Redis URL without scheme": ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL"),
    "a database driver that is missing": ({"DATABASE_URL": "mysql://user@127.0.0.1/wxsub"}, "DATABASE_URL"),
    "an unknown kind of database": ({"DATABASE_URL": "oracle+nothing://user@host/db"}, "DATABASE_URL"),
}


def clean_env(**settings: str) -> dict[str, str]:
    """Only what a shell gives and the settings under test: nothing of the test run leaks in."""
    return {"PATH": os.environ["PATH"], "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT), **settings}


def run(args: list[str], env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    """Run a start-up; kill its whole process group if it outlives the bound (it then started serving)."""
    proc = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=RUN_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{args[0]} did not stop: it started with a configuration mistake\n{err}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def flask(*command: str) -> list[str]:
    return [str(BIN / "flask"), "--app", "wsgi", *command]


def gunicorn() -> list[str]:
    # The working directory is a temporary one (no stray .env), hence the config file's path.
    return [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind", "127.0.0.1:0", "wsgi:app"]


def assert_one_line_naming(result: subprocess.CompletedProcess, variable: str) -> str:
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    return lines[0]


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_a_configuration_mistake_stops_flask_in_one_line(mistake, tmp_path):
    settings, variable = MISTAKES[mistake]
    assert_one_line_naming(run(flask("db", "upgrade"), clean_env(**settings), tmp_path), variable)


@pytest.mark.parametrize("mistake", ["short SECRET_KEY", "AES key not base64", "a database driver that is missing"])
def test_a_configuration_mistake_stops_gunicorn_in_one_line(mistake, tmp_path):
    settings, variable = MISTAKES[mistake]
    assert_one_line_naming(run(gunicorn(), clean_env(**settings), tmp_path), variable)


@pytest.mark.parametrize("mistake", list(MISTAKES))
@pytest.mark.parametrize("entry", [create_app_or_exit, check_or_exit], ids=["wsgi.py", "gunicorn.conf.py"])
def test_every_mistake_takes_the_one_line_exit(mistake, entry, monkeypatch, capsys, tmp_path):
    """In-process, the same entry points the subprocesses above go through, for every mistake."""
    settings, variable = MISTAKES[mistake]
    monkeypatch.chdir(tmp_path)  # no .env
    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        entry()
    assert stopped.value.code != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("Error: ") and variable in err
    for name, value in settings.items():
        if BY_NAME[name].secret and value:
            assert value not in err


@pytest.mark.parametrize("command", [("wx", "doctor"), ("--help",)])
def test_every_flask_command_stops_the_same_way(command, tmp_path):
    assert_one_line_naming(run(flask(*command), clean_env(WORKER_THREADS="many"), tmp_path), "WORKER_THREADS")


@pytest.mark.parametrize("starter", ["flask db upgrade", "gunicorn"])
def test_a_database_that_cannot_be_reached_is_one_line_and_an_exit(starter, unused_port, tmp_path):
    url = f"postgresql://nobody@127.0.0.1:{unused_port}/nowhere"
    args = gunicorn() if starter == "gunicorn" else flask("db", "upgrade")
    line = assert_one_line_naming(run(args, clean_env(DATABASE_URL=url), tmp_path), "DATABASE_URL")
    assert str(unused_port) in line  # the driver's reason, naming where it tried


@pytest.mark.postgres
@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+psycopg"])
def test_every_spelling_of_a_postgresql_url_migrates_with_psycopg3(scheme, tmp_path):
    if not POSTGRES_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    reset_postgres(POSTGRES_URL)
    url = scheme + "://" + POSTGRES_URL.partition("://")[2]
    result = run(flask("db", "upgrade"), clean_env(DATABASE_URL=url), tmp_path)
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(POSTGRES_URL)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    engine.dispose()


@pytest.mark.postgres
def test_gunicorn_reloading_its_config_checks_the_database_once(monkeypatch, unused_port, tmp_path):
    """On HUP gunicorn reads gunicorn.conf.py again: a database blinking then must not stop the server."""
    if not POSTGRES_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    from backend.ops import startup

    monkeypatch.setattr(startup, "_database_checked", False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL)
    check_or_exit()  # start-up: the database answers
    monkeypatch.setenv("DATABASE_URL", f"postgresql://nobody@127.0.0.1:{unused_port}/nowhere")
    check_or_exit()  # the reload: not checked again, no exit
    monkeypatch.setenv("DATABASE_URL", "mysql://user@127.0.0.1/wxsub")
    with pytest.raises(SystemExit):  # settings are checked every time
        check_or_exit()
