"""What gunicorn.conf.py settles for every deployment, checked on a running gunicorn."""

from __future__ import annotations

import pytest

from tests.servers import backend_env, gunicorn

pytestmark = pytest.mark.slow


def test_no_control_socket_is_opened(tmp_path, emulator):
    """gunicorn 27 would open ~/.gunicorn/gunicorn.ctl (or one under XDG_RUNTIME_DIR) for gunicornc."""
    home, runtime = tmp_path / "home", tmp_path / "run"
    home.mkdir()
    runtime.mkdir()
    env = backend_env(f"sqlite:///{tmp_path / 'db.sqlite3'}", emulator.url, HOME=str(home))
    with gunicorn({**env, "XDG_RUNTIME_DIR": str(runtime)}, workers=1, threads=2) as server:
        assert server.proc.poll() is None
        assert list(runtime.iterdir()) == [] and list(home.rglob("*")) == []
    with gunicorn({**env, "XDG_RUNTIME_DIR": ""}, workers=1, threads=2):
        assert not (home / ".gunicorn").exists()
