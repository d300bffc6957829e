"""A batch of 10,000 messages through RQ workers, beside the bare client loop on the same emulator.

    .venv/bin/python bench/batch_throughput.py [--messages N] [--workers W] [--worker-threads T]
                                               [--database-url URL] [--redis-url URL]

WARNING: it empties the PostgreSQL database it is given (default `bench`, created when missing)
and the Redis database it is given (default redis://127.0.0.1:6379/13, FLUSHDB).

Setup: N users with one credit each, in the ledger and at the emulator (20 ms injected latency,
its own process). Then `POST /api/v1/batches` with N recipients; W `flask wx worker` processes
(RQ on Redis) deliver it with T threads each. The clock runs from the POST until the batch is
`done`. In the same run, before and after the batch, the bare loop: W x T threads calling
WeChatClient.subscribe.send on the same emulator (twice, so that both see the same machine: a
shared VM's speed drifts within a minute). Prints messages/s for both and the ratio; figures only.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.models import Subscription, User, utcnow  # noqa: E402
from backend.templates.catalog import sync_templates  # noqa: E402
from bench.client_throughput import (  # noqa: E402
    CpuMeter,
    Phase,
    cpu_table,
    machine,
    process_cpu,
    run_load,
    stop_on_sigterm,
    table,
    tree_cpu,
)
from bench.send_throughput import combined, postgres_server_pid, quiet_app_logs, reset_schema  # noqa: E402
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME  # noqa: E402
from tests.servers import emulator_process  # noqa: E402
from wxemu.defaults import DEV_APPID  # noqa: E402

TEMPLATE_ID = ONE_TIME["priTmplId"]


def give_credits(emulator_url: str, openids: list[str]) -> None:
    http = requests.Session()
    for openid in openids:
        http.post(f"{emulator_url}/_emulator/users", json={"openid": openid}, timeout=10)
        http.post(
            f"{emulator_url}/_emulator/popup", json={"openid": openid, "results": {TEMPLATE_ID: "accept"}}, timeout=10
        )


def start_worker(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "wx", "worker"],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-threads", type=int, default=16)
    parser.add_argument("--bare-calls", type=int, default=2000)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args()
    stop_on_sigterm()
    reset_schema(args.database_url)
    redis.Redis.from_url(args.redis_url).flushdb()
    workers: list[subprocess.Popen] = []
    with emulator_process() as emulator:
        config = {
            "SQLALCHEMY_DATABASE_URI": args.database_url,
            "WX_API_BASE": emulator.url,
            "REDIS_URL": args.redis_url,
            "BUSINESS_API_KEYS": [API_KEY["X-Api-Key"]],
        }
        app = create_app(config)
        quiet_app_logs()  # the bare loop's log lines go to /dev/null, as the workers' do
        requests.post(f"{emulator.url}/_emulator/templates", json=ONE_TIME, timeout=10)
        openids = [f"oBatchUser{i:017d}" for i in range(args.messages)]
        bare_openids = [f"oBareUser{i:018d}" for i in range(2 * args.bare_calls)]
        print(f"setup: {len(openids) + len(bare_openids)} users with a credit at the emulator ...", flush=True)
        give_credits(emulator.url, openids + bare_openids)
        with app.app_context():
            db.create_all()
            sync_templates(app.extensions["apps"].only())
            now = utcnow()
            db.session.execute(
                sa.insert(User),
                [
                    {"app_id": DEV_APPID, "openid": o, "token_version": 0, "created_at": now, "updated_at": now}
                    for o in openids
                ],
            )
            ids = dict(db.session.execute(sa.select(User.openid, User.id)).all())
            db.session.execute(
                sa.insert(Subscription),
                [
                    {
                        "user_id": ids[o],
                        "template_id": TEMPLATE_ID,
                        "kind": "one_time",
                        "status": "accept",
                        "remaining": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for o in openids
                ],
            )
            db.session.commit()
        requests.post(f"{emulator.url}/_emulator/latency", json={"ms": 20}, timeout=10)
        env = {
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "WX_API_BASE": emulator.url,
            "WX_APPID": "",
            "WX_SECRET": "",
            "WORKER_THREADS": str(args.worker_threads),
            "PYTHONPATH": str(ROOT),
        }
        postmaster = postgres_server_pid(args.database_url)
        meter = CpuMeter(
            {
                "bench": lambda: process_cpu(os.getpid()),
                "workers": lambda: sum(tree_cpu(worker.pid) for worker in workers),
                "postgres": lambda: tree_cpu(postmaster),
                "emulator": lambda: tree_cpu(emulator.proc.pid),
            }
        )
        wechat = app.extensions["apps"].only().client

        def bare_loop(round_: int) -> tuple[Phase, dict[str, float]]:
            def bare_send(index: int) -> str | None:
                wechat.subscribe.send(bare_openids[round_ * args.bare_calls + index], TEMPLATE_ID, GOOD_DATA)
                return None

            with app.app_context():
                before = meter.snapshot()
                phase = run_load(f"bare client loop #{round_ + 1}", bare_send, args.bare_calls, threads)
                return phase, meter.since(before)

        def warm_up(index: int) -> None:  # connections and the access token, without spending a credit
            wechat.templates.list()

        threads = args.workers * args.worker_threads
        with app.app_context():
            run_load("warm-up", warm_up, threads, threads)
        bare_rounds = [bare_loop(0)]
        try:
            workers = [start_worker(env) for _ in range(args.workers)]
            time.sleep(3)  # let the workers start before the clock does
            before = meter.snapshot()
            client = app.test_client()
            body = {"template_id": TEMPLATE_ID, "data": GOOD_DATA, "recipients": [{"openid": o} for o in openids]}
            began = time.perf_counter()
            batch = client.post("/api/v1/batches", json=body, headers=API_KEY).json
            while True:
                state = client.get(f"/api/v1/batches/{batch['id']}", headers=API_KEY).json
                if state["status"] == "done" or time.perf_counter() - began > 600:
                    break
                time.sleep(0.2)
            seconds = time.perf_counter() - began
            batch_cpu = meter.since(before)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    os.killpg(worker.pid, signal.SIGTERM)
                    worker.wait(timeout=30)
        bare_rounds.append(bare_loop(1))
        delivered = len(requests.get(f"{emulator.url}/_emulator/sent", timeout=30).json())
    rate = args.messages / seconds
    print(machine())
    print(
        f"setup: {args.workers} RQ workers x {args.worker_threads} threads, PostgreSQL, Redis, emulator with "
        f"20 ms latency in its own process"
    )
    print(
        f"batch of {args.messages}: {state['status']} in {seconds:.1f} s = {rate:.1f} messages/s; "
        f"counts {state['counts']}"
    )
    bare = combined("bare client loop", bare_rounds)
    print(table([phase for phase, _ in [*bare_rounds, bare]]))
    print(f"ratio batch/bare (bare: both rounds): {rate / bare[0].rate:.2f}   (goal: >= 0.50)")
    print(f"check: the emulator delivered {delivered} messages ({args.messages} batch + {2 * args.bare_calls} bare)")
    print()
    batch_phase = Phase(f"batch of {args.messages}", seconds, [seconds] * args.messages)
    print(cpu_table([(batch_phase, batch_cpu), *bare_rounds, bare]))
    print("(bench = this process: the batch POST and status polls, or the bare loop itself; workers = the RQ workers)")


if __name__ == "__main__":
    main()
