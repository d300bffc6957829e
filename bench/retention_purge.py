"""Retention's purge of 1,000,000 back-dated rows while sends and reports go on: how long does a send wait?

    .venv/bin/python bench/retention_purge.py [--rows N] [--senders S] [--database-url URL]

WARNING: with --database-url it empties that PostgreSQL database (created when missing); the
default is a new SQLite file in a temporary directory.

Setup in this process: the emulator, the app, 20 users logged in, and N rows 400 days old (half
messages whose values retention empties, half consent events it deletes; the defaults, 180 and
365 days, cover both). Then S threads loop, each: a popup accept at the emulator, the mini
program's report of it (`POST /api/v1/subscriptions`) and a send that spends it
(`POST /api/v1/messages`), first for BASELINE_SECONDS without a purge, then while retention's
purge (`wx retention run`'s) runs in a process of its own, as the worker's would (1,000 rows per
statement and transaction), timing each of its write transactions: a send waits at most for
one of them, so the longest is the figure that must stay under 100 ms. Prints that, the purge's
time and rate, and for the sends and reports of each phase the median, the 99th percentile and
the longest (on a busy machine these move with the machine as much as with the purge).
Figures only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.models import ConsentEvent, Message, User, utcnow  # noqa: E402
from bench.send_throughput import quiet_app_logs, reset_schema  # noqa: E402
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME  # noqa: E402
from wxemu import run_in_thread  # noqa: E402
from wxemu.defaults import DEV_APPID, DEV_SECRET  # noqa: E402

USERS = 20
BASELINE_SECONDS = 10
INSERT_CHUNK = 10_000
T1 = ONE_TIME["priTmplId"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (emptied!); default a temporary SQLite")
    parser.add_argument("--purge-only", action="store_true", help=argparse.SUPPRESS)  # the purging process
    return parser.parse_args()


def purge_and_time(url: str) -> None:
    """The purging process: `wx retention run`'s purge, timing each transaction that wrote (a
    send waits at most for one of them), printed as the last line."""
    from backend.ops import retention

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": None})
    quiet_app_logs()
    begun: dict[int, float] = {}
    durations: list[float] = []

    def on_begin(conn) -> None:
        begun[id(conn)] = time.perf_counter()

    def on_commit(conn) -> None:
        durations.append(time.perf_counter() - begun.pop(id(conn), time.perf_counter()))

    with app.app_context():
        sa.event.listen(db.engine, "begin", on_begin)
        sa.event.listen(db.engine, "commit", on_commit)
        for kind, rows in retention.purge().items():
            print(f"{kind}: {rows:,} rows purged")
    durations.sort()
    print(
        f"{len(durations)} write transactions: median {statistics.median(durations) * 1000:.1f} ms, "
        f"p99 {durations[int(len(durations) * 0.99)] * 1000:.1f} ms, longest {durations[-1] * 1000:.1f} ms, "
        f"{sum(d > 0.1 for d in durations)} over 100 ms"
    )


def back_dated_rows(app, users: list[int], rows: int) -> None:
    """rows / 2 sent messages and rows / 2 accept events, 400 days old, spread over the users."""
    old = utcnow() - timedelta(days=400)
    messages, events = rows // 2, rows - rows // 2
    with app.app_context(), db.engine.begin() as conn:
        for start in range(0, messages, INSERT_CHUNK):
            conn.execute(
                sa.insert(Message.__table__),
                [
                    {
                        "public_id": f"msg_old_{n}",
                        "app_id": DEV_APPID,
                        "user_id": users[n % len(users)],
                        "template_id": T1,
                        "data": GOOD_DATA,
                        "status": "sent",
                        "attempts": 0,
                        "miniprogram_state": "formal",
                        "lang": "zh_CN",
                        "sent_at": old,
                        "created_at": old,
                        "updated_at": old,
                    }
                    for n in range(start, min(start + INSERT_CHUNK, messages))
                ],
            )
        for start in range(0, events, INSERT_CHUNK):
            conn.execute(
                sa.insert(ConsentEvent.__table__),
                [
                    {
                        "app_id": DEV_APPID,
                        "user_id": users[n % len(users)],
                        "template_id": T1,
                        "source": "report",
                        "result": "accept",
                        "credits_delta": 1,
                        "created_at": old,
                    }
                    for n in range(start, min(start + INSERT_CHUNK, events))
                ],
            )


class Loop:
    """S threads of popup, report and send, timing the report and the send, until stopped."""

    def __init__(self, app, emulator_url: str, openids: dict[int, str], senders: int) -> None:
        self.app, self.emulator_url, self.openids, self.senders = app, emulator_url, openids, senders
        self.stop = threading.Event()
        self.reports: list[float] = []
        self.sends: list[float] = []
        self.failures = 0

    def _run(self, user_ids: list[int]) -> None:
        client, http = self.app.test_client(), requests.Session()
        tokens = {user_id: self.tokens[user_id] for user_id in user_ids}
        n = 0
        while not self.stop.is_set():
            user_id = user_ids[n % len(user_ids)]
            n += 1
            popup = {"openid": self.openids[user_id], "results": {T1: "accept"}}
            http.post(f"{self.emulator_url}/_emulator/popup", json=popup, timeout=10).raise_for_status()
            auth = {"Authorization": f"Bearer {tokens[user_id]}"}
            started = time.perf_counter()
            report = client.post("/api/v1/subscriptions", json={"results": {T1: "accept"}}, headers=auth)
            self.reports.append(time.perf_counter() - started)
            started = time.perf_counter()
            sent = client.post(
                "/api/v1/messages", json={"user_id": user_id, "template_id": T1, "data": GOOD_DATA}, headers=API_KEY
            )
            self.sends.append(time.perf_counter() - started)
            self.failures += report.status_code != 200 or sent.status_code != 201

    def run(self, tokens: dict[int, str]) -> list[threading.Thread]:
        self.tokens = tokens
        ids = sorted(tokens)
        threads = [
            threading.Thread(target=self._run, args=(ids[i :: self.senders],), daemon=True) for i in range(self.senders)
        ]
        for thread in threads:
            thread.start()
        return threads


def figures(name: str, seconds: list[float]) -> str:
    ms = sorted(value * 1000 for value in seconds)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"{name:8} {len(ms):6}  median {statistics.median(ms):6.1f} ms  p99 {p99:6.1f} ms  longest {ms[-1]:6.1f} ms"


def main() -> None:
    args = parse_args()
    if args.purge_only:
        purge_and_time(args.database_url)
        return
    emulator = run_in_thread()
    requests.post(f"{emulator.url}/_emulator/templates", json=ONE_TIME, timeout=10).raise_for_status()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        if args.database_url:
            reset_schema(url)
        config = {
            "SQLALCHEMY_DATABASE_URI": url,
            "WX_API_BASE": emulator.url,
            "WX_APPID": DEV_APPID,
            "WX_SECRET": DEV_SECRET,
            "REDIS_URL": None,
            "BUSINESS_API_KEYS": [API_KEY["X-Api-Key"]],
            "RATE_LIMIT_REPORTS": 0,
        }
        app = create_app(config)
        quiet_app_logs()
        with app.app_context():
            db.create_all()
        client, tokens, openids = app.test_client(), {}, {}
        for _ in range(USERS):
            code = requests.post(f"{emulator.url}/_emulator/login_codes", json={}, timeout=10).json()
            answer = client.post("/api/v1/auth/login", json={"code": code["code"]}).json
            tokens[answer["user"]["id"]], openids[answer["user"]["id"]] = answer["token"], code["openid"]
        started = time.perf_counter()
        back_dated_rows(app, sorted(tokens), args.rows)
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))  # the statistics autovacuum keeps for a table that grew by itself
        print(f"retention purge, {url.split(':', 1)[0]}, {args.rows:,} rows 400 days old, {args.senders} senders")
        print(f"setup: {args.rows:,} rows inserted in {time.perf_counter() - started:.0f} s")

        baseline = Loop(app, emulator.url, openids, args.senders)
        threads = baseline.run(tokens)
        time.sleep(BASELINE_SECONDS)
        baseline.stop.set()
        for thread in threads:
            thread.join()

        during = Loop(app, emulator.url, openids, args.senders)
        env = {**os.environ, "WX_APPID": "", "WX_SECRET": "", "PYTHONPATH": str(ROOT)}
        threads = during.run(tokens)
        started = time.perf_counter()
        purge = subprocess.run(
            [sys.executable, __file__, "--purge-only", "--database-url", url],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        purge_seconds = time.perf_counter() - started
        during.stop.set()
        for thread in threads:
            thread.join()
        with app.app_context():
            left = db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent))
            users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
            db.session.remove()
            db.engine.dispose()

        print(f"purge: {purge_seconds:.1f} s (with its start-up), {args.rows / purge_seconds:,.0f} rows/s")
        print("  " + "\n  ".join(purge.stdout.strip().splitlines()))
        print(f"  consent events left: {left:,} (the last grant per user, and the loop's own; {users} users)")
        print("without the purge:")
        print("  " + figures("reports", baseline.reports))
        print("  " + figures("sends", baseline.sends))
        print("during the purge:")
        print("  " + figures("reports", during.reports))
        print("  " + figures("sends", during.sends))
        print(f"failed requests: {baseline.failures + during.failures}")
    emulator.shutdown()


if __name__ == "__main__":
    main()
