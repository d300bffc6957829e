"""Helpers for the HTTP tests: templates, a logged-in mini-program user, API-key headers."""

from __future__ import annotations

import threading
from dataclasses import dataclass

API_KEY = {"X-Api-Key": "test-api-key"}
# DATA_KEY for any configuration outside dev mode (32 bytes of base64); no real data is sealed with it.
TEST_DATA_KEY = "dGVzdC1kYXRhLWtleS1ub3QtZm9yLXByb2R1Y3Rpb24="
ONE_TIME = {
    "priTmplId": "tmpl-order-shipped",
    "title": "Order shipped",
    "type": 2,
    "keywords": [{"key": "thing1", "name": "Item"}, {"key": "time2", "name": "Shipped at"}],
}
LONG_TERM = {
    "priTmplId": "tmpl-bus-arrival",
    "title": "Bus arrival",
    "type": 3,
    "keywords": [{"key": "thing1", "name": "Line"}, {"key": "phrase2", "name": "Status"}],
}
ENUM_TEMPLATE = {
    "priTmplId": "tmpl-washer",
    "title": "Washer fault",
    "type": 2,
    "keywords": [{"key": "time1", "name": "At"}, {"key": "enum_string2", "name": "Where"}],
    "enums": {"enum_string2": ["Laundry room", "Balcony"]},
}
# A device type and its device templates, registered with the emulator's POST /_emulator/devices.
WASHER_MODEL = "washer-model-1"
WASHER_DEVICE = {
    "model_id": WASHER_MODEL,
    "templates": [
        {
            "priTmplId": "tmpl-laundry-done",
            "title": "洗衣完成提醒",
            "keywords": [
                {"key": "thing1", "name": "状态", "enum": ["洗衣完成", "烘干完成"]},
                {"key": "phrase2", "name": "提示", "enum": ["请及时取衣"]},
            ],
        },
        {
            "priTmplId": "tmpl-washer-fault",
            "title": "设备故障提醒",
            "keywords": [{"key": "thing1", "name": "故障", "enum": ["进水异常", "排水异常"]}],
        },
    ],
}
LAUNDRY_DONE = "tmpl-laundry-done"
LAUNDRY_DATA = {"thing1": "洗衣完成", "phrase2": "请及时取衣"}
GOOD_DATA = {"thing1": "Blue kettle", "time2": "2024年10月1日 15:01"}


@dataclass
class MiniProgramUser:
    id: int
    openid: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def log_in(client, emulator, **user) -> MiniProgramUser:
    issued = emulator.login_code(**user)
    response = client.post("/api/v1/auth/login", json={"code": issued["code"]})
    assert response.status_code == 200, response.json
    return MiniProgramUser(response.json["user"]["id"], issued["openid"], response.json["token"])


def report(client, user: MiniProgramUser, results: dict, **extra):
    return client.post("/api/v1/subscriptions", json={"results": results, **extra}, headers=user.auth)


def accept(client, emulator, user: MiniProgramUser, template_id: str = ONE_TIME["priTmplId"], times: int = 1):
    """The user taps accept `times` times: WeChat counts it, and the mini program reports it."""
    for _ in range(times):
        emulator.control("POST", "/popup", openid=user.openid, results={template_id: "accept"})
        assert report(client, user, {template_id: "accept"}).status_code == 200


def send(client, body: dict, **headers):
    return client.post("/api/v1/messages", json=body, headers={**API_KEY, **headers})


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.json
    assert set(response.json) == {"error"}
    assert response.json["error"]["code"] == code
    assert isinstance(response.json["error"]["message"], str) and response.json["error"]["message"]
    return response.json["error"]["details"]


def reconfigure(app, **config) -> None:
    """Change settings of a running test app, apps included: the registry (each app's keys and
    client) is built from the config at start-up, so it is built again."""
    from backend import build_apps
    from backend.infra.redis_link import build_link

    app.config.update(config)
    if "REDIS_URL" in config:
        app.extensions["redis"] = build_link(app)
    with app.app_context():
        app.extensions["apps"] = build_apps(app)


def wechat_client(app):
    """The WeChat client of the test app's one app."""
    return app.extensions["apps"].only().client


class Statements:
    """The SQL statements an engine runs while counting (`with Statements(engine) as seen:`).

    Each execute or executemany is one entry; BEGIN and COMMIT are not statements here. Statements
    sent straight through the driver (the PostgreSQL send path, db/autocommit.py) bypass it.
    """

    def __init__(self, engine) -> None:
        self.engine = engine
        self.sql: list[str] = []

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.sql.append(statement)

    def __enter__(self) -> Statements:
        import sqlalchemy as sa

        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc) -> None:
        import sqlalchemy as sa

        sa.event.remove(self.engine, "before_cursor_execute", self._seen)

    def __len__(self) -> int:
        return len(self.sql)

    def writes(self) -> list[str]:
        return [
            sql for sql in self.sql if sql.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE", "WITH")
        ]


def at_once(count: int, call) -> list:
    """`call(n)` for n in range(count), each in its own thread, released together; their results."""
    from concurrent.futures import ThreadPoolExecutor

    start = threading.Barrier(count)

    def run(n: int):
        start.wait()
        return call(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))
