"""The skeleton: configuration, the one error shape, health, request ids, migrations."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from backend import create_app
from backend.config import load_config
from backend.extensions import db
from backend.settings import ConfigError
from tests.conftest import app_config
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, TEST_DATA_KEY, assert_error
from wxemu.defaults import DEV_APPID


class TestConfig:
    def test_dev_mode_without_credentials(self):
        config = load_config({})
        assert config["DEV_MODE"] and config["WX_APPID"] == DEV_APPID
        assert config["WX_API_BASE"].startswith("http://127.0.0.1")

    def test_production_defaults(self):
        production = {"WX_APPID": "wx1", "WX_SECRET": "s", "SECRET_KEY": "k" * 32, "DATA_KEY": TEST_DATA_KEY}
        config = load_config({**production, "BUSINESS_API_KEYS": "a, b,,c"})
        assert not config["DEV_MODE"]
        assert config["WX_API_BASE"] == "https://api.weixin.qq.com"
        assert config["BUSINESS_API_KEYS"] == ["a", "b", "c"]
        assert config["WX_MINIPROGRAM_STATE"] == "formal"

    @pytest.mark.parametrize(
        ("env", "message"),
        [
            ({"WX_APPID": "wx1"}, "WX_SECRET"),
            ({"WX_SECRET": "s"}, "WX_APPID"),
            ({"WX_APPID": "wx1", "WX_SECRET": "s"}, "SECRET_KEY"),
            ({"WX_APPID": "wx1", "WX_SECRET": "s", "SECRET_KEY": "k" * 32}, "^DATA_KEY is required outside dev mode"),
            ({"DATA_KEY": "not-base64!"}, "^DATA_KEY is not base64"),
            ({"DATA_KEY": "c2hvcnQ="}, "^DATA_KEY decodes to 5 bytes"),
            ({"DATA_KEYS_OLD": f"{TEST_DATA_KEY},c2hvcnQ="}, "^DATA_KEYS_OLD decodes to 5 bytes"),
            ({"WX_MINIPROGRAM_STATE": "beta"}, "WX_MINIPROGRAM_STATE"),
            ({"WX_ENCODING_AES_KEY": "short"}, "WX_ENCODING_AES_KEY"),
            ({"WX_READ_TIMEOUT": "soon"}, "WX_READ_TIMEOUT"),
        ],
    )
    def test_bad_settings_stop_start_up(self, env, message):
        with pytest.raises(ConfigError, match=message):
            load_config(env)

    def test_create_app_refuses_half_set_credentials(self, monkeypatch):
        monkeypatch.setenv("WX_APPID", "wx1")
        monkeypatch.delenv("WX_SECRET", raising=False)
        with pytest.raises(ConfigError):
            create_app()

    def test_dotenv_is_read(self, tmp_path, monkeypatch):
        (tmp_path / ".env").write_text("WX_MINIPROGRAM_STATE=trial\nBUSINESS_API_KEYS=from-dotenv\n")
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("BUSINESS_API_KEYS", raising=False)
        monkeypatch.delenv("WX_MINIPROGRAM_STATE", raising=False)
        config = load_config()
        assert config["WX_MINIPROGRAM_STATE"] == "trial" and config["BUSINESS_API_KEYS"] == ["from-dotenv"]


class TestErrorShape:
    def test_404(self, client):
        assert_error(client.get("/nowhere"), 404, "not_found")

    def test_405(self, client):
        response = client.delete("/healthz")
        assert_error(response, 405, "method_not_allowed")
        assert "GET" in response.headers["Allow"]

    def test_malformed_json(self, client):
        response = client.post(
            "/api/v1/messages", data=b"\xff{", content_type="application/json", headers={"X-Api-Key": "test-api-key"}
        )
        assert_error(response, 400, "invalid_request")

    def test_huge_body_is_413(self, client):
        response = client.post("/api/v1/auth/login", data=b"x" * (9 * 1024 * 1024), content_type="application/json")
        assert_error(response, 413, "request_entity_too_large")

    def test_unexpected_error_is_500_without_internals(self, app):
        @app.get("/boom")
        def boom():
            raise RuntimeError("secret internals")

        response = app.test_client().get("/boom")
        assert_error(response, 500, "internal_error")
        assert "secret internals" not in response.get_data(as_text=True)


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok", "redis": "not_configured"}


def test_healthz_503_when_the_database_is_gone(emulator, unused_port):
    url = f"postgresql+psycopg://nobody@127.0.0.1:{unused_port}/none?connect_timeout=1"
    app = create_app(app_config(url, emulator.url))
    assert_error(app.test_client().get("/healthz"), 503, "database_unavailable")


def test_requests_are_503_not_500_when_the_database_is_gone(emulator, unused_port):
    url = f"postgresql+psycopg://nobody@127.0.0.1:{unused_port}/none?connect_timeout=1"
    client = create_app(app_config(url, emulator.url)).test_client()
    send = {"openid": "o-somebody", "template_id": ONE_TIME["priTmplId"], "data": GOOD_DATA}
    assert_error(client.post("/api/v1/messages", json=send, headers=API_KEY), 503, "database_unavailable")
    assert_error(client.get("/api/v1/messages", headers=API_KEY), 503, "database_unavailable")
    assert_error(client.get("/api/v1/batches/bat_x", headers=API_KEY), 503, "database_unavailable")


def test_request_id_is_echoed_or_made(client):
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-Id": "bad id <script>"}).headers["X-Request-Id"]
    assert made and made != "bad id <script>"


def test_migrations_build_the_models_schema_on_an_empty_database(database_url, emulator):
    app = create_app(app_config(database_url, emulator.url))
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
            assert diff == []
            assert "alembic_version" in sa.inspect(conn).get_table_names()
        db.engine.dispose()
