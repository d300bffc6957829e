"""SQLite's writers (backend/db/sqlite.py): one at a time, reads never wait, nothing stays locked.

A leaked writer lock would make the next write wait WRITE_WAIT_SECONDS and fail with
"database is locked"; the tests below would then fail with OperationalError.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend import create_app
from backend.db import sqlite
from backend.extensions import db
from backend.models import ConsentEvent, Message, Subscription
from tests.conftest import app_config
from tests.helpers import API_KEY, GOOD_DATA, ONE_TIME, accept, log_in

ROOT = Path(__file__).resolve().parents[1]
WAIT = 30  # seconds: bound on every wait below (never reached when things work)

metadata = sa.MetaData()
items = sa.Table(
    "items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("n", sa.Integer, default=0),
)


@pytest.fixture
def engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'gate.sqlite3'}", **sqlite.engine_options({}))
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def in_thread(work) -> threading.Thread:
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_a_read_does_not_wait_for_an_open_write(engine):
    read_done = threading.Event()
    with engine.connect() as writer:
        writer.execute(sa.insert(items).values(id=1, name="uncommitted"))  # holds the writer lock

        def read():
            with engine.connect() as reader:
                assert reader.execute(sa.select(sa.func.count()).select_from(items)).scalar() == 0
            read_done.set()

        in_thread(read)
        assert read_done.wait(WAIT)  # while the write is still open
        writer.commit()


def test_concurrent_writers_of_one_process_all_commit(engine):
    # 8 threads, 20 writes each, each write reading first: none fails with "database is locked".
    with engine.begin() as conn:
        conn.execute(sa.insert(items).values(id=1, name="", n=0))

    def increment():
        for _ in range(20):
            with engine.begin() as conn:
                conn.execute(sa.select(items.c.n)).scalar()
                conn.execute(sa.update(items).values(n=items.c.n + 1))

    threads = [in_thread(increment) for _ in range(8)]
    for thread in threads:
        thread.join(WAIT)
    with engine.connect() as conn:
        assert conn.execute(sa.select(items.c.n)).scalar() == 160


def test_the_lock_is_released_after_an_error_and_rollback(engine):
    with engine.begin() as conn:
        conn.execute(sa.insert(items).values(id=1, name="a"))
    with engine.connect() as conn, pytest.raises(sa.exc.IntegrityError):
        try:
            conn.execute(sa.insert(items).values(id=1, name="duplicate"))
        finally:
            conn.rollback()
    with engine.begin() as conn:  # would wait, then fail with "database is locked"
        conn.execute(sa.insert(items).values(id=2, name="b"))


def test_the_lock_is_released_when_the_connection_is_invalidated(engine):
    conn = engine.connect()
    conn.execute(sa.insert(items).values(id=1, name="lost"))
    conn.invalidate()  # e.g. SQLAlchemy saw a disconnect: the DBAPI connection is closed
    conn.close()
    written = threading.Event()

    def write():
        with engine.begin() as other:
            other.execute(sa.insert(items).values(id=2, name="next"))
        written.set()

    in_thread(write)
    assert written.wait(WAIT)
    with engine.connect() as check:
        assert check.execute(sa.select(items.c.id)).scalars().all() == [2]


def test_a_transaction_that_read_before_another_commit_can_still_write(engine):
    # In place, SQLite refuses this upgrade (SQLITE_BUSY_SNAPSHOT): the read's snapshot is stale.
    with engine.connect() as first:
        assert first.execute(sa.select(sa.func.count()).select_from(items)).scalar() == 0
        with engine.begin() as second:
            second.execute(sa.insert(items).values(id=1, name="second"))
        first.execute(sa.insert(items).values(id=2, name="first"))
        first.commit()
    with engine.connect() as check:
        assert check.execute(sa.select(items.c.id).order_by(items.c.id)).scalars().all() == [1, 2]


CHILD = """
import sys
from backend import create_app
from backend.extensions import db
from wxemu.defaults import DEV_APPID
from backend.consent.ledger import record_events
from backend.models import utcnow
from backend.sending.rows import message_row
from backend.sending.single import find_recipient, reserve
from tests.conftest import app_config

url, emulator_url, openid, template_id = sys.argv[1:5]
app = create_app(app_config(url, emulator_url))
with app.app_context():
    def stop_before_commit():
        # Enough rows that SQLite spills uncommitted pages into the WAL before the COMMIT.
        record_events(DEV_APPID, [1] * 3000, template_id, "test", "filler")
        print("writing", flush=True)
        sys.stdin.read()  # until killed

    db.session().commit = stop_before_commit  # the unit of work's commit, on this session
    recipient = find_recipient(DEV_APPID, openid=openid)
    mini_program = app.extensions["apps"].get(DEV_APPID)
    row = message_row(
        mini_program, template_id=template_id, data={"thing1": "x"}, user_id=recipient.id,
        openid=recipient.openid, status="sending", now=utcnow(),
    )
    reserve(row, "one_time")
"""


@pytest.mark.slow
def test_a_process_killed_in_the_middle_of_a_write_leaves_the_database_consistent(tmp_path, emulator, templates):
    url = f"sqlite:///{tmp_path / 'killed.sqlite3'}"
    app = create_app(app_config(url, emulator.url))
    with app.app_context():
        db.create_all()
    client = app.test_client()
    user = log_in(client, emulator)
    accept(client, emulator, user, times=3)
    template_id = ONE_TIME["priTmplId"]

    with subprocess.Popen(
        [sys.executable, "-c", CHILD, url, emulator.url, user.openid, template_id],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            ready, _, _ = select.select([child.stdout], [], [], WAIT)
            assert ready and child.stdout.readline().strip() == "writing"
            wal = Path(tmp_path / "killed.sqlite3-wal")
            assert wal.exists() and wal.stat().st_size > 0  # uncommitted frames on disk
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(WAIT)

    with app.app_context():
        assert db.session.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
        assert db.session.scalar(sa.select(Subscription.remaining)) == 3
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
        assert db.session.scalar(sa.select(sa.func.count()).where(ConsentEvent.result.in_(["spent", "filler"]))) == 0
        db.session.rollback()

    # The next process (this one) writes at once: no lock survived the killed one.
    body = {"openid": user.openid, "template_id": template_id, "data": GOOD_DATA}
    response = client.post("/api/v1/messages", json=body, headers=API_KEY)
    assert response.status_code == 201, response.get_json()
    with app.app_context():
        assert db.session.scalar(sa.select(Subscription.remaining)) == 2
        assert db.session.scalar(sa.select(sa.func.count()).where(ConsentEvent.result == "spent")) == 1
        assert db.session.scalar(sa.select(Message.status)) == "sent"
        granted = db.session.scalar(sa.select(sa.func.sum(ConsentEvent.credits_delta)))
        assert granted == 2  # 3 accepts, 1 spent: the audit agrees with the credits
        db.session.remove()
        db.engine.dispose()
