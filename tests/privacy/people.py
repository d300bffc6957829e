"""A person with something of theirs in every table, and the scan that finds any trace of them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from backend.extensions import db
from tests.helpers import API_KEY, ONE_TIME, MiniProgramUser, accept, log_in, send

T1 = ONE_TIME["priTmplId"]


@dataclass
class Person:
    user: MiniProgramUser
    unionid: str
    phone: str
    external_id: str
    value: str  # a message value only this person was sent

    @property
    def traces(self) -> dict[str, str]:
        return {
            "openid": self.user.openid,
            "unionid": self.unionid,
            "phone": self.phone,
            "external_id": self.external_id,
            "value": self.value,
        }


def a_person(client, emulator, tag: str) -> Person:
    """Logged in with a unionid, a phone number shared, an external_id bound, two credits taken in
    a popup with a scene, one message sent, one scheduled, a binding code and an idempotent send."""
    unionid = f"union-{tag}-x91"
    user = log_in(client, emulator, unionid=unionid)
    phone = {"a": "13800138001", "b": "13900139002"}[tag]
    code = emulator.control("POST", "/phone_codes", openid=user.openid, phone_number=phone, country_code="86")["code"]
    assert client.post("/api/v1/auth/phone", json={"code": code}, headers=user.auth).status_code == 200
    external_id = f"CRM-{tag}-4471"
    assert (
        client.put(
            f"/api/v1/users/{user.id}/external-id", json={"external_id": external_id}, headers=API_KEY
        ).status_code
        == 200
    )
    assert client.post("/api/v1/binding-codes", json={"external_id": external_id}, headers=API_KEY).status_code == 201
    accept(client, emulator, user, times=3)
    value = f"Kettle for {tag} 5520"
    data = {"thing1": value, "time2": "2024年10月1日 15:01"}
    sent = send(client, {"user_id": user.id, "template_id": T1, "data": data}, **{"Idempotency-Key": f"k-{tag}"})
    assert sent.status_code == 201, sent.json
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    scheduled = send(client, {"external_id": external_id, "template_id": T1, "data": data, "send_at": later})
    assert scheduled.status_code == 202, scheduled.json
    emulator.control("POST", "/push/flush")  # WeChat's sent event, when push is on, has arrived
    return Person(user, unionid, phone, external_id, value)


def traces_left(app, person: Person) -> list[tuple[str, str, str]]:
    """(table, column, what) for every value in every column of every table (read from the
    database itself, not from the models) that holds one of the person's traces."""
    found = []
    with app.app_context():
        metadata = sa.MetaData()
        metadata.reflect(bind=db.engine)
        with db.engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(sa.select(table)):
                    for column, value in row._mapping.items():
                        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
                        found += [(table.name, column, what) for what, trace in person.traces.items() if trace in text]
    return found
