"""`with work():`, the one way the backend commits, on each database: a clean exit commits, an
exception rolls back and goes on, a nested unit is refused, and `end_read` ends a read."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.db import NestedWork, end_read, work
from backend.extensions import db
from backend.models import User
from wxemu.defaults import DEV_APPID


class Boom(Exception):
    pass


def _user(openid: str) -> User:
    return User(app_id=DEV_APPID, openid=openid)


def _stored_openids() -> list[str]:
    """What is committed, as a new session (its own connection) sees it."""
    with Session(db.engine) as other:
        return list(other.scalars(sa.select(User.openid).order_by(User.openid)))


def test_a_clean_exit_commits(app):
    with app.app_context():
        with work() as session:
            assert session is db.session()
            session.add(_user("o-committed"))
        assert not db.session().in_transaction()
        assert _stored_openids() == ["o-committed"]


def test_reads_before_the_unit_are_part_of_it(app):
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
        with work():
            db.session.add(_user("o-after-a-read"))
        assert _stored_openids() == ["o-after-a-read"]


def test_an_exception_rolls_back_and_is_raised_again(app):
    with app.app_context():
        error = Boom()
        with pytest.raises(Boom) as raised, work():
            db.session.add(_user("o-lost"))
            db.session.flush()  # written to the transaction, not committed
            raise error
        assert raised.value is error
        assert not db.session().in_transaction()
        assert _stored_openids() == []
        with work():  # the session is usable again
            db.session.add(_user("o-next"))
        assert _stored_openids() == ["o-next"]


def test_a_failing_commit_rolls_back_and_frees_the_session(app):
    with app.app_context():
        with work():
            db.session.add(_user("o-taken"))
        with pytest.raises(IntegrityError), work():
            db.session.add(_user("o-taken"))  # the unique (app_id, openid): fails at the commit's flush
        assert not db.session().in_transaction()
        with work():
            db.session.add(_user("o-other"))
        assert _stored_openids() == ["o-other", "o-taken"]


def test_a_nested_unit_is_refused_and_the_outer_one_goes_on(app):
    with app.app_context():
        with work():
            db.session.add(_user("o-outer"))
            with pytest.raises(NestedWork), work():
                pytest.fail("the nested unit's block must not run")
            db.session.add(_user("o-outer-later"))  # the outer unit is still open and usable
            assert _stored_openids() == []  # and the refusal committed nothing of it
        assert _stored_openids() == ["o-outer", "o-outer-later"]


def test_a_refused_nesting_that_escapes_rolls_the_outer_unit_back(app):
    with app.app_context():
        with pytest.raises(NestedWork), work():
            db.session.add(_user("o-outer"))
            db.session.flush()
            with work():
                db.session.add(_user("o-inner"))
        assert not db.session().in_transaction()
        assert _stored_openids() == []
        with work():  # the refused unit left no mark: units open again
            db.session.add(_user("o-next"))
        assert _stored_openids() == ["o-next"]


def test_units_follow_one_another(app):
    with app.app_context():
        for openid in ("o-1", "o-2"):
            with work():
                db.session.add(_user(openid))
        assert _stored_openids() == ["o-1", "o-2"]


def test_end_read_ends_the_transaction(app):
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
        assert db.session().in_transaction()
        with Session(db.engine) as other, other.begin():
            other.add(_user("o-meanwhile"))
        end_read()
        assert not db.session().in_transaction()
        # A new transaction, so a fresh snapshot (SQLite keeps a read's snapshot until it ends).
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
        end_read()
        end_read()  # with no transaction open it does nothing
        assert not db.session().in_transaction()
