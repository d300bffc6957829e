"""Real servers for tests and benchmarks: the backend under gunicorn, the emulator in its own process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:  # not listening yet, or too busy starting to answer
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


class Server:
    """A child process serving HTTP on 127.0.0.1; stopped with SIGTERM on exit."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, probe: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            args,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_until_up(self.url + probe, self.proc)
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def backend_env(database_url: str, emulator_url: str, **extra: str) -> dict[str, str]:
    """Dev-mode settings pointing a backend process at a database and an emulator."""
    env = {
        "DATABASE_URL": database_url,
        "WX_API_BASE": emulator_url,
        "BUSINESS_API_KEYS": "test-api-key",
        "WX_APPID": "",
        "WX_SECRET": "",
        "REDIS_URL": "",
        "WX_TOKEN": "",
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


def gunicorn(env: dict[str, str], workers: int | None = 2, threads: int | None = 8, app: str = "wsgi:app") -> Server:
    """`app` under gunicorn; workers or threads None: what gunicorn.conf.py chooses for env's database."""
    port = free_port()
    args = [str(BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--graceful-timeout", "5"]
    if workers is not None:
        args += ["--workers", str(workers)]
    if threads is not None:
        args += ["--threads", str(threads)]
    return Server([*args, app], env, port, "/healthz")


def emulator_process(apps_file: str | None = None) -> Server:
    """The emulator in its own process; with `apps_file`, hosting that file's apps too."""
    port = free_port()
    args = [str(BIN / "python"), "-m", "wxemu", "--host", "127.0.0.1", "--port", str(port)]
    if apps_file:
        args += ["--apps-file", apps_file]
    return Server(args, {"PYTHONPATH": str(ROOT)}, port, "/_emulator/log")
