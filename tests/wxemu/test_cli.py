"""`python -m wxemu`: the emulator's own entry, with the options and usage errors the backend's
`flask emulator` command had before the emulator left the backend."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner

from tests.servers import ROOT, emulator_process
from wxemu import cli
from wxemu.defaults import DEFAULT_PORT, DEV_APPID, DEV_SECRET

B, SECRET_B = "wxb000000000000002", "secret-b"


@pytest.fixture
def apps_file(tmp_path):
    path = tmp_path / "apps.toml"
    path.write_text(f'[[app]]\nappid = "{B}"\nsecret = "{SECRET_B}"\ntoken = "t"\n')
    return path


@pytest.fixture
def served(monkeypatch) -> list[tuple]:
    """The arguments `serve` is called with, instead of serving forever."""
    calls: list[tuple] = []
    monkeypatch.setattr(cli, "serve", lambda *args: calls.append(args))
    return calls


def invoke(*args: str):
    return CliRunner().invoke(cli.main, list(args), prog_name=cli.PROG_NAME)


def test_help_shows_the_defaults():
    result = invoke("--help")
    assert result.exit_code == 0
    assert "Usage: python -m wxemu [OPTIONS]" in result.output
    assert "[default: 127.0.0.1]" in result.output and f"[default: {DEFAULT_PORT}]" in result.output
    assert "--apps-file FILE" in result.output


def test_the_defaults_reach_the_server(served):
    assert invoke().exit_code == 0
    assert served == [("127.0.0.1", 8090, None)]


def test_host_port_and_apps_file_reach_the_server(served, apps_file):
    result = invoke("--host", "127.0.0.2", "--port", "9001", "--apps-file", str(apps_file))
    assert result.exit_code == 0, result.output
    assert served == [("127.0.0.2", 9001, str(apps_file))]


def test_a_port_that_is_not_a_number_is_a_usage_error(served):
    result = invoke("--port", "abc")
    assert result.exit_code == 2 and served == []
    assert "Error: Invalid value for '--port': 'abc' is not a valid integer." in result.output


@pytest.mark.parametrize(
    ("name", "text", "said"),
    [
        ("missing.toml", None, "Invalid value for '--apps-file': File '{path}' does not exist."),
        (".", None, "Invalid value for '--apps-file': File '{path}' is a directory."),
        ("broken.toml", "[[app]\n", "Invalid value for --apps-file: {path}: "),
        ("empty.toml", "", "Invalid value for --apps-file: {path} lists no [[app]]"),
        ("nosecret.toml", f'[[app]]\nappid = "{B}"\n', "Invalid value for --apps-file: {path}: [[app]] #1 needs"),
    ],
)
def test_a_bad_apps_file_is_a_usage_error_naming_it(tmp_path, name, text, said):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    result = invoke("--apps-file", str(path))
    assert result.exit_code == 2
    assert "Usage: python -m wxemu [OPTIONS]" in result.output
    assert said.format(path=path) in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_python_dash_m_refuses_a_bad_apps_file_in_one_line(tmp_path):
    missing = tmp_path / "missing.toml"
    done = subprocess.run(
        [sys.executable, "-m", "wxemu", "--apps-file", str(missing)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"Error: Invalid value for '--apps-file': File '{missing}' does not exist." in done.stderr


@pytest.mark.slow
def test_python_dash_m_serves_its_own_app_and_those_of_the_file(apps_file):
    with emulator_process(apps_file=str(apps_file)) as emulator:
        for appid, secret in ((DEV_APPID, DEV_SECRET), (B, SECRET_B)):
            body = {"grant_type": "client_credential", "appid": appid, "secret": secret}
            reply = requests.post(f"{emulator.url}/cgi-bin/stable_token", json=body, timeout=10).json()
            assert reply.get("access_token"), reply
