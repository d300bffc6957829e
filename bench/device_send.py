"""Device sends (`POST /api/v1/device-messages`) to 1, 10 and 1,000 subscribers of one device.

    .venv/bin/python bench/device_send.py [--subscribers 1,10,1000] [--rounds R] [--latency-ms MS]
                                          [--database-url URL]

WARNING: with --database-url it empties that PostgreSQL database (created when missing); the
default is a new SQLite file in a temporary directory.

One emulator (in this process, MS of injected latency per WeChat call) and the app in this
process. For each size N: N users subscribed to the washer's template on their own device
(at the emulator through the device popup, and in the ledger), then R sends to all of them
without `recipients`. Up to 100 subscribers the send delivers in the request (201); above that
it runs as a batch (202), delivered by the in-process queue (WORKER_THREADS threads), and the
clock runs until the batch is `done`. Each device message is one WeChat call. Prints, per size,
the median time of a send and messages/s; figures only.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.models import DeviceSubscription, User, utcnow  # noqa: E402
from bench.send_throughput import quiet_app_logs, reset_schema  # noqa: E402
from tests.helpers import API_KEY, LAUNDRY_DATA, LAUNDRY_DONE, WASHER_DEVICE, WASHER_MODEL  # noqa: E402
from wxemu import run_in_thread  # noqa: E402
from wxemu.defaults import DEV_APPID, DEV_SECRET  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", default="1,10,1000", help="comma-separated sizes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (emptied!); default a temporary SQLite")
    return parser.parse_args()


def subscribe(emulator_url: str, app, sn: str, count: int) -> None:
    """`count` users subscribed to LAUNDRY_DONE on (WASHER_MODEL, sn), at WeChat and in the ledger."""
    http = requests.Session()
    with app.app_context():
        ticket = app.extensions["apps"].only().client.device.sn_ticket(WASHER_MODEL, sn)
    openids = []
    for _ in range(count):
        openid = http.post(f"{emulator_url}/_emulator/users", json={}, timeout=10).json()["openid"]
        popup = {"openid": openid, "model_id": WASHER_MODEL, "sn": sn, "sn_ticket": ticket}
        http.post(f"{emulator_url}/_emulator/device_popup", json={**popup, "results": {LAUNDRY_DONE: "accept"}})
        openids.append(openid)
    with app.app_context():
        now = utcnow()
        db.session.execute(
            sa.insert(User),
            [
                {"app_id": DEV_APPID, "openid": o, "token_version": 0, "created_at": now, "updated_at": now}
                for o in openids
            ],
        )
        ids = db.session.scalars(sa.select(User.id).where(User.openid.in_(openids))).all()
        row = {"template_id": LAUNDRY_DONE, "model_id": WASHER_MODEL, "sn": sn, "status": "accept", "audio": False}
        db.session.execute(
            sa.insert(DeviceSubscription), [{**row, "user_id": i, "created_at": now, "updated_at": now} for i in ids]
        )
        db.session.commit()


def one_send(client, sn: str) -> tuple[float, int]:
    """Seconds until every message of one send is settled, and how many were sent."""
    body = {"template_id": LAUNDRY_DONE, "model_id": WASHER_MODEL, "sn": sn, "data": LAUNDRY_DATA}
    started = time.perf_counter()
    response = client.post("/api/v1/device-messages", json=body, headers=API_KEY)
    if response.status_code == 201:
        sent = sum(message["status"] == "sent" for message in response.json["messages"])
        return time.perf_counter() - started, sent
    assert response.status_code == 202, response.json
    while True:
        batch = client.get(f"/api/v1/batches/{response.json['id']}", headers=API_KEY).json
        if batch["status"] == "done":
            return time.perf_counter() - started, batch["counts"].get("sent", 0)
        time.sleep(0.02)


def main() -> None:
    args = parse_args()
    sizes = [int(size) for size in args.subscribers.split(",")]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the emulator's access log
    emulator = run_in_thread()
    requests.post(f"{emulator.url}/_emulator/devices", json=WASHER_DEVICE, timeout=10).raise_for_status()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        if args.database_url:
            reset_schema(url)
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "WX_API_BASE": emulator.url,
                "WX_APPID": DEV_APPID,
                "WX_SECRET": DEV_SECRET,
                "REDIS_URL": None,
                "BUSINESS_API_KEYS": [API_KEY["X-Api-Key"]],
            }
        )
        quiet_app_logs()
        with app.app_context():
            db.create_all()
        client = app.test_client()
        requests.post(f"{emulator.url}/_emulator/latency", json={"ms": args.latency_ms}, timeout=10)
        print(f"device sends, {args.latency_ms} ms per WeChat call, {url.split(':', 1)[0]}, {args.rounds} rounds")
        print(f"{'subscribers':>11}  {'mode':>6}  {'median s':>9}  {'messages/s':>10}")
        for size in sizes:
            sn = f"SN-{size}"
            subscribe(emulator.url, app, sn, size)
            timings = []
            for _ in range(args.rounds):
                seconds, sent = one_send(client, sn)
                assert sent == size, f"{sent} of {size} sent"
                timings.append(seconds)
            median = statistics.median(timings)
            mode = "201" if size <= 100 else "202"
            print(f"{size:>11}  {mode:>6}  {median:>9.3f}  {size / median:>10.1f}")
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    emulator.shutdown()


if __name__ == "__main__":
    main()
