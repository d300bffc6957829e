"""Safe-mode pushes per second through POST /wechat/push (gunicorn, 2 workers, PostgreSQL).

    .venv/bin/python bench/push_throughput.py [--pushes N] [--concurrency C] [--database-url URL]

WARNING: it empties the database it is given (DROP SCHEMA public CASCADE); the default is the
database `bench`, created when missing, as for send_throughput.py.

Each push is a `subscribe_msg_popup_event` for a new openid (so every push creates a user and
a subscription and mints a credit), signed with the Token, encrypted with the EncodingAESKey
and JSON-encoded exactly as WeChat sends it (the emulator's own signer builds them). They are
prepared before the clock starts; C clients post them. A last phase replays pushes already
handled, which must change nothing. Prints figures only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import requests
import sqlalchemy as sa
from requests.adapters import HTTPAdapter

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.models import Subscription  # noqa: E402
from bench.client_throughput import machine, run_load, stop_on_sigterm, table  # noqa: E402
from bench.send_throughput import ensure_database, reset_schema  # noqa: E402
from tests.servers import backend_env, emulator_process, gunicorn  # noqa: E402
from wxemu.defaults import DEV_APPID  # noqa: E402
from wxemu.pusher import PushTarget, event_message, signed_request  # noqa: E402

TOKEN = "bench-push-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
TEMPLATE_ID = "tmpl-bench-push"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/bench")
    args = parser.parse_args()
    stop_on_sigterm()
    ensure_database(args.database_url)
    reset_schema(args.database_url)
    with emulator_process() as emulator:
        app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "WX_API_BASE": emulator.url})
        with app.app_context():
            db.create_all()
        requests.post(
            f"{emulator.url}/_emulator/templates",
            timeout=10,
            json={"priTmplId": TEMPLATE_ID, "title": "Bench", "type": 2, "keywords": [{"key": "thing1", "name": "x"}]},
        )
        target = PushTarget(url="", token=TOKEN, appid=DEV_APPID, encoding_aes_key=AES_KEY, format="json", mode="safe")
        now = int(time.time())
        pushes = []
        for index in range(args.pushes):
            item = {"TemplateId": TEMPLATE_ID, "SubscribeStatusString": "accept", "PopupScene": 0}
            message = event_message(f"oBenchUser{index:017d}", "subscribe_msg_popup_event", [item], now)
            pushes.append(signed_request(target, message, timestamp=now))
        env = backend_env(args.database_url, emulator.url, WX_TOKEN=TOKEN, WX_ENCODING_AES_KEY=AES_KEY)
        with gunicorn(env, workers=2, threads=16) as server:
            session = requests.Session()
            session.mount("http://", HTTPAdapter(pool_maxsize=args.concurrency))

            def push(index: int) -> str | None:
                query, body, content_type = pushes[index]
                response = session.post(
                    f"{server.url}/wechat/push",
                    params=query,
                    data=body.encode(),
                    headers={"Content-Type": content_type},
                    timeout=30,
                )
                return None if response.status_code == 200 and response.text == "success" else str(response.status_code)

            warm = run_load("warm-up", push, min(64, args.pushes), args.concurrency)
            del warm
            fresh = run_load("safe-mode pushes (new users)", lambda i: push(i + 64), args.pushes - 64, args.concurrency)
            replays = run_load("replayed pushes (no effect)", push, args.pushes - 64, args.concurrency)
        with app.app_context():
            credits = db.session.scalar(sa.select(sa.func.sum(Subscription.remaining)))
            users = db.session.scalar(sa.select(sa.func.count()).select_from(Subscription))
    print(machine())
    print(
        f"setup: gunicorn 2 workers x 16 threads, PostgreSQL, {args.concurrency} concurrent clients, "
        "JSON safe mode (AES-256-CBC + msg_signature)"
    )
    print(table([fresh, replays]))
    print(
        f"check: {users} subscriptions, {credits} credits for {args.pushes} distinct pushes "
        "(each counted once, replays included)"
    )


if __name__ == "__main__":
    main()
