"""The documents' commands run: every `sh` and `python` block a reader would run, against the emulator.

A block is run unless the line before it says why not: `<!-- not run: <reason> -->`. The blocks of
one document run in order in one shell, against a fresh emulator and a dev-mode backend (gunicorn
over a throw-away SQLite database), the README's ports replaced by the test's. A comment line
`# → <output>` after a command is what it prints: its last line must match, `…`, `...` and
`<NAME>` standing for anything, and a leading HTTP status (`→ 201 {...}`) said, not printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.servers import BIN, ROOT, backend_env, emulator_process, gunicorn
from wxemu.defaults import DEV_APPID

pytestmark = pytest.mark.slow

DOCS = ["README.md", "README.zh-CN.md", "docs/api.md", "docs/zh-CN/api.md"]
FENCE = re.compile(r"^([ \t]*)```([^\n`]*)\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)
NOT_RUN = re.compile(r"^\s*<!-- not run: (\S.*?) -->\s*$")
RUNNABLE = {"sh", "bash", "python"}
EXPECTED = re.compile(r"^\s*#\s*→\s?(.*)$")
WILDCARD = re.compile(r"…|\.\.\.|<[A-Z_]+>")
MARKER = "@@expected"


def blocks(name: str) -> list[tuple[str, str, str | None]]:
    """(language, body, why it is not run or None) of every runnable fenced block, in order."""
    text = (ROOT / name).read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        language = match.group(2).strip()
        if language not in RUNNABLE:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        why = NOT_RUN.match(before)
        indent = match.group(1)
        body = "".join(line.removeprefix(indent) for line in match.group(3).splitlines(keepends=True))
        found.append((language, body, why.group(1) if why else None))
    return found


def pattern(expected: str) -> re.Pattern:
    expected = re.sub(r"^\d{3} ", "", expected.strip())
    parts = WILDCARD.split(expected)
    return re.compile(".*".join(re.escape(part) for part in parts))


def with_markers(script: str) -> tuple[str, list[str]]:
    """The script with an `echo` of a marker in place of each run of `# →` lines, and their outputs."""
    lines, expected = [], []
    for line in script.splitlines():
        match = EXPECTED.match(line)
        if match:
            lines.append(f'echo; echo "{MARKER}"')
            expected.append(match.group(1))
        else:
            lines.append(line)
    return "\n".join(lines) + "\n", expected


def check_outputs(stdout: str, expected: list[str]) -> None:
    segments = stdout.split(f"{MARKER}\n")
    assert len(segments) == len(expected) + 1, stdout
    for segment, want in zip(segments, expected, strict=False):
        printed = [line for line in segment.splitlines() if line.strip()]
        assert printed, f"nothing printed where the document shows: {want}"
        assert pattern(want).fullmatch(printed[-1].strip()), f"\nthe document: {want}\nprinted:      {printed[-1]}"


def in_test_urls(script: str, emulator_url: str, backend_url: str) -> str:
    urls = {"http://127.0.0.1:8090": emulator_url, "http://127.0.0.1:5000": backend_url}
    for dev, test in urls.items():
        script = script.replace(dev, test)
    return script


@pytest.fixture
def dev_mode(tmp_path):
    """The emulator and a dev-mode backend over a fresh SQLite database, as `make run` starts them."""
    database_url = f"sqlite:///{tmp_path / 'docs.sqlite3'}"
    with emulator_process() as emulator:
        env = backend_env(database_url, emulator.url, BUSINESS_API_KEYS="dev-api-key")
        full_env = {**os.environ, **env}
        subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=full_env, check=True,
                       capture_output=True)  # fmt: skip
        with gunicorn(env, workers=1, threads=4) as backend:
            yield emulator.url, backend.url, full_env


def run_shell(script: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "-c", "set -eo pipefail\n" + script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def give_credit(emulator_url: str, backend_url: str, openid: str) -> None:
    """One more accepted popup for `openid`, reported by the mini program: a credit to spend."""
    code = requests.post(f"{emulator_url}/_emulator/login_codes", json={"openid": openid}, timeout=10).json()["code"]
    token = requests.post(f"{backend_url}/api/v1/auth/login", json={"code": code}, timeout=10).json()["token"]
    requests.post(
        f"{emulator_url}/_emulator/popup",
        json={"openid": openid, "results": {"tmpl-order-shipped": "accept"}},
        timeout=10,
    ).raise_for_status()
    requests.post(
        f"{backend_url}/api/v1/subscriptions",
        headers={"Authorization": f"Bearer {token}"},
        json={"results": {"errMsg": "requestSubscribeMessage:ok", "tmpl-order-shipped": "accept"}},
        timeout=10,
    ).raise_for_status()


@pytest.mark.parametrize("name", DOCS)
def test_every_block_is_run_or_says_why_not(name):
    text = (ROOT / name).read_text(encoding="utf-8")
    markers = [line for line in text.splitlines() if "<!-- not run" in line]
    assert all(NOT_RUN.match(line) for line in markers), "a marker is `<!-- not run: <reason> -->`"
    assert len(markers) == sum(why is not None for *_, why in blocks(name)), "a marker not right before a block"
    assert any(why is None for *_, why in blocks(name)) or name.startswith("docs/"), f"{name}: nothing is run"


def test_the_expected_output_pattern():
    assert pattern('201 {"id":"msg_…","status":"sent",...}').fullmatch('{"id":"msg_1","status":"sent","x":1}')
    assert not pattern('{"status":"sent"}').fullmatch('{"status":"failed"}')
    assert pattern("{<A>}").fullmatch("{anything}")


@pytest.mark.parametrize("name", ["README.md", "README.zh-CN.md"])
def test_the_readme_runs_as_written(name, dev_mode):
    emulator_url, backend_url, env = dev_mode
    shell = "\n".join(body for language, body, why in blocks(name) if why is None and language in {"sh", "bash"})
    script, expected = with_markers(in_test_urls(shell, emulator_url, backend_url))
    assert len(expected) >= 10, "the walk-through shows its outputs"
    check_outputs(run_shell(script, env), expected)

    # The Python beside the backend: after the walk-through the user has no credit left; one more popup.
    give_credit(emulator_url, backend_url, "oDemoUser000000000000000001")
    python = [body for language, body, why in blocks(name) if why is None and language == "python"]
    assert python, "the in-process example is run"
    for body in python:
        result = subprocess.run(
            [str(BIN / "python"), "-"], input=body, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        want = [m.group(1) for line in body.splitlines() if (m := EXPECTED.match(line))]
        printed = [line for line in result.stdout.splitlines() if line.strip()]
        assert len(printed) == len(want) and all(pattern(w).fullmatch(p) for w, p in zip(want, printed, strict=True))


API_PREAMBLE = """
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
login() { CODE=$(curl -s -XPOST $E/_emulator/login_codes -d '{"openid":"'$1'"}' \\
  -H 'Content-Type: application/json' | field code)
  curl -s -XPOST $B/api/v1/auth/login -H 'Content-Type: application/json' -d '{"code":"'$CODE'"}' | field token; }
curl -s -XPOST $E/_emulator/templates -H 'Content-Type: application/json' -d '{"priTmplId":"tmpl-order-shipped",
  "title":"Order shipped","type":2,
  "keywords":[{"key":"thing1","name":"Item"},{"key":"time2","name":"Shipped at"}]}' >/dev/null
curl -s -XPOST $E/_emulator/devices -H 'Content-Type: application/json' -d '{"model_id":"washer-model-1",
  "templates":[{"priTmplId":"tmpl-laundry-done","title":"洗衣完成提醒","keywords":[
  {"key":"thing1","name":"状态","enum":["洗衣完成","烘干完成"]},
  {"key":"phrase2","name":"提示","enum":["请及时取衣"]}]}]}' >/dev/null
.venv/bin/flask --app wsgi wx templates sync >/dev/null
login oSecondUser0000000000000002 >/dev/null
TOKEN=$(login oDemoUser000000000000000001)
for _ in 1 2; do
  curl -s -XPOST $E/_emulator/popup -H 'Content-Type: application/json' \\
    -d '{"openid":"oDemoUser000000000000000001","results":{"tmpl-order-shipped":"accept"}}' >/dev/null
done
MESSAGE_ID=$(curl -s -XPOST $B/api/v1/messages -H 'X-Api-Key: dev-api-key' -H 'Content-Type: application/json' \\
  -d '{"user_id":1,"template_id":"tmpl-order-shipped","send_at":"SEND_AT",
       "data":{"thing1":"Blue kettle","time2":"2026-11-27 15:01"}}' | field id)
CODE=$(curl -s -XPOST $E/_emulator/login_codes -d '{"openid":"oDemoUser000000000000000001"}' \\
  -H 'Content-Type: application/json' | field code)
"""


@pytest.mark.parametrize("name", ["docs/api.md", "docs/zh-CN/api.md"])
def test_every_api_example_is_answered_without_error(name, dev_mode):
    """Each example, with the variables the document names, gets a JSON answer that is no error."""
    emulator_url, backend_url, env = dev_mode
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT09:00:00+08:00")
    examples = [body for language, body, why in blocks(name) if why is None]
    assert len(examples) >= 10
    # A dated example stays valid: its send_at becomes tomorrow (the API takes at most a year ahead, no past).
    script = "".join(re.sub(r'"send_at":"[^"]+"', f'"send_at":"{tomorrow}"', body) + f'echo; echo "{MARKER}"\n'
                     for body in examples)  # fmt: skip
    preamble = f"E={emulator_url}; B={backend_url}; APPID={DEV_APPID}\n" + API_PREAMBLE.replace("SEND_AT", tomorrow)
    segments = run_shell(preamble + script, env).split(f"{MARKER}\n")[:-1]
    assert len(segments) == len(examples)
    for body, segment in zip(examples, segments, strict=True):
        answer = json.loads(segment)
        assert "error" not in answer, f"{body}\n→ {segment}"
