"""The endpoint a team writes by hand with Flask + requests: the yardstick of bench/vs_handwritten.py.

    gunicorn --workers 2 --threads 16 bench.handwritten_app:app

No ledger, no outbox, no idempotency, no validation beyond the obvious:
- POST /send: the X-Api-Key checked, the access token cached in the process (one cgi-bin/token
  per process and expiry), one POST to subscribe/send; 201 with WeChat's msgid.
- POST /send-token-per-send: the helper blog posts teach: a fresh cgi-bin/token, then the send.
- POST /report: `Authorization: Bearer <openid>.<HMAC-SHA256 of it>`, then one
  INSERT … ON CONFLICT DO UPDATE per accepted template (a credit count) on PostgreSQL.
Settings from the environment: WX_API_BASE, WX_APPID, WX_SECRET, API_KEY, SECRET_KEY, DATABASE_URL
(a psycopg conninfo or postgresql:// URL).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time

import psycopg
import requests
from flask import Flask, jsonify, request
from requests.adapters import HTTPAdapter

WX = os.environ.get("WX_API_BASE", "http://127.0.0.1:8090")
APPID, SECRET = os.environ.get("WX_APPID", ""), os.environ.get("WX_SECRET", "")
API_KEY = os.environ.get("API_KEY", "")
SECRET_KEY = os.environ.get("SECRET_KEY", "").encode()
DATABASE_URL = os.environ.get("DATABASE_URL", "").replace("postgresql+psycopg://", "postgresql://")

app = Flask(__name__)
http = requests.Session()
http.mount("http://", HTTPAdapter(pool_maxsize=64))
http.mount("https://", HTTPAdapter(pool_maxsize=64))

_token: dict[str, object] = {"value": None, "expires": 0.0}
_token_lock = threading.Lock()
_local = threading.local()

UPSERT = """
INSERT INTO hw_credits (openid, template_id, remaining) VALUES (%s, %s, 1)
ON CONFLICT (openid, template_id) DO UPDATE SET remaining = hw_credits.remaining + 1
RETURNING remaining
"""
SCHEMA = """
CREATE TABLE IF NOT EXISTS hw_credits (
    openid text NOT NULL, template_id text NOT NULL, remaining integer NOT NULL,
    PRIMARY KEY (openid, template_id)
)
"""


def sign(openid: str, key: bytes = SECRET_KEY) -> str:
    """The session token the hand-written app hands out at log-in (the bench makes them)."""
    return f"{openid}.{hmac.new(key, openid.encode(), hashlib.sha256).hexdigest()}"


def create_schema(url: str) -> None:
    """Run once before the app starts (by the bench)."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(SCHEMA)


def fetch_token() -> str:
    reply = http.get(
        f"{WX}/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": APPID, "secret": SECRET},
        timeout=(3.05, 10),
    ).json()
    _token.update(value=reply["access_token"], expires=time.time() + reply["expires_in"] - 300)
    return reply["access_token"]


def cached_token() -> str:
    with _token_lock:
        if _token["value"] is None or time.time() > _token["expires"]:
            return fetch_token()
        return _token["value"]


def send_with(token: str):
    if not hmac.compare_digest(request.headers.get("X-Api-Key", ""), API_KEY):
        return jsonify(error="unauthorized"), 401
    body = request.get_json()
    reply = http.post(
        f"{WX}/cgi-bin/message/subscribe/send",
        params={"access_token": token},
        json={
            "touser": body["openid"],
            "template_id": body["template_id"],
            "data": {key: {"value": value} for key, value in body["data"].items()},
        },
        timeout=(3.05, 10),
    ).json()
    if reply.get("errcode"):
        return jsonify(error=reply), 502
    return jsonify(status="sent", msgid=reply.get("msgid")), 201


@app.post("/send")
def send():
    return send_with(cached_token())


@app.post("/send-token-per-send")
def send_token_per_send():
    return send_with(fetch_token())


def connection() -> psycopg.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = _local.conn = psycopg.connect(DATABASE_URL, autocommit=True)
    return conn


@app.post("/report")
def report():
    openid, _, signature = request.headers.get("Authorization", "").removeprefix("Bearer ").rpartition(".")
    if not openid or not hmac.compare_digest(sign(openid), f"{openid}.{signature}"):
        return jsonify(error="unauthorized"), 401
    results = (request.get_json() or {}).get("results") or {}
    conn = connection()
    credits = {
        template_id: conn.execute(UPSERT, (openid, template_id)).fetchone()[0]
        for template_id, choice in results.items()
        if choice == "accept"
    }
    return jsonify(credits=credits), 200


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
