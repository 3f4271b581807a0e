"""No plaintext personal data in any column or log line, whatever path the data took."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, text

from api.app import create_app
from db.tables import SCHEMAS
from hibachi.bootstrap import Container
from services.outbox_dispatcher import OutboxDispatcher
from tests.conftest import service_headers
from tests.factories import create_booking_body

EMAIL = "Priya.Raman+party@Example.org"
PHONE_TYPED = "(916) 555-0177"
SECRETS = [
    "priya.raman+party@example.org",
    "Priya.Raman",
    "+19165550177",
    "9165550177",
    "555-0177",
    "Priya",
    "Ramanathan",
    "1234 Capitol Mall",
    "peanut allergy",
]
CANARY = "canary.plaintext@example.org"  # planted on purpose: proves the scan finds what is there


def text_columns(conn: Connection, schemas: tuple[str, ...]) -> list[Any]:
    """Every column of these schemas that could hold text: text, varchar, bytea, json(b), arrays."""
    listed = ", ".join(f"'{schema}'" for schema in schemas)
    return list(
        conn.execute(
            text(
                "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                f"WHERE table_schema IN ({listed}) AND data_type IN "
                "('text', 'character varying', 'character', 'bytea', 'jsonb', 'json', 'ARRAY')"
            )
        ).all()
    )


def plaintext_hits(conn: Connection, columns: list[Any], secrets: tuple[str, ...]) -> list[str]:
    """`schema.table.column holds 'secret'` for every column where a secret appears in plain text."""
    found = []
    for schema, table, column, data_type in columns:
        value_sql = f"encode(\"{column}\", 'escape')" if data_type == "bytea" else f'"{column}"::text'
        for secret in secrets:
            hit = conn.execute(
                text(f'SELECT 1 FROM "{schema}"."{table}" WHERE strpos(lower({value_sql}), lower(:s)) > 0 LIMIT 1'),
                {"s": secret},
            ).first()
            if hit:
                found.append(f"{schema}.{table}.{column} holds {secret!r}")
    return found


def test_a_scan_of_every_text_bytea_and_jsonb_column_finds_no_plaintext(
    container: Container, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = create_booking_body(email=EMAIL, phone=PHONE_TYPED, address="1234 Capitol Mall, Sacramento, CA 95814")
    body["customer"].update(first_name="Priya", last_name="Ramanathan")
    body["booking"]["notes"] = "peanut allergy at table two"
    with TestClient(create_app(container), headers=service_headers(container)) as client:
        created = client.post("/commands/create-booking", json=body, headers={"Idempotency-Key": "pii-1"})
        assert created.status_code == 201
        reference = created.json()["reference"]
        client.post("/commands/create-booking", json=body, headers={"Idempotency-Key": "pii-1"})  # replay
        client.post(
            "/commands/update-consent",
            json={"channel": "sms", "granted": False, "email": EMAIL},
            headers={"Idempotency-Key": "pii-2"},
        )
        client.post("/commands/cancel-booking", json={"reference": reference}, headers={"Idempotency-Key": "pii-3"})
        # an error path too: the message must not echo the address or email back into logs
        client.post("/commands/create-booking", json=body | {"source": "fax"}, headers={"Idempotency-Key": "pii-4"})
    OutboxDispatcher(container.uow, {}, container.clock).dispatch_due()

    with container.engine.begin() as conn:
        conn.execute(
            text("UPDATE events.outbox SET result = jsonb_build_object('to', CAST(:c AS text))"), {"c": CANARY}
        )

    with container.engine.connect() as conn:
        columns = text_columns(conn, (*SCHEMAS, "audit", "public"))
        assert len(columns) > 30  # the scan really covers the schema
        found = plaintext_hits(conn, columns, (*SECRETS, CANARY))
        # the ciphertexts really are there (a scan of empty tables proves nothing)
        encrypted = conn.execute(text("SELECT count(*) FROM core.customers WHERE email_enc IS NOT NULL")).scalar_one()
    assert encrypted == 1
    assert found == [f"events.outbox.result holds {CANARY!r}"]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # something was logged, and none of it is personal
    for secret in SECRETS:
        assert secret.lower() not in logged.lower()


def test_a_conversation_leaves_no_plaintext_in_any_schema_including_the_agents_checkpoints(
    container: Container,
) -> None:
    session = str(uuid.uuid4())
    said = (
        "Hibachi for 12 adults on Saturday December 12th at 6pm, 1234 Capitol Mall, Sacramento CA 95814, "
        "I'm Priya Ramanathan, priya.raman+party@example.org, 916-555-0177"
    )
    with TestClient(create_app(container)) as client:
        for text_ in (said, "yes", "yes"):
            response = client.post("/channels/web/messages", json={"session_id": session, "text": text_})
            assert response.status_code == 200, response.text
    with container.engine.connect() as conn:
        columns = text_columns(conn, (*SCHEMAS, "audit", "agent", "public"))
        assert {c[0] for c in columns} >= {"agent", "core", "events"}
        checkpoints = conn.execute(text("SELECT count(*) FROM agent.checkpoints")).scalar_one()
        assert checkpoints > 0  # the conversation really was checkpointed
        found = plaintext_hits(conn, columns, ("priya.raman", "Ramanathan", "5550177", "555-0177", "Capitol Mall"))
    assert found == []
