"""The graph with its Postgres checkpointer: one connection pool of our own, tables in schema `agent`.

PostgresSaver needs connections with autocommit and dict rows; the search path points its
unqualified table names at the `agent` schema, which migration 0002 creates (with `setup()`: never
called per request). Each connection is checked before it is lent, and idle and old ones are
recycled, so a Postgres restart heals by itself.

Checkpoints hold the whole conversation (names, phones, addresses), so their serialized values are
encrypted with the same AES-GCM keys as personal data in the tables (LangGraph's
EncryptedSerializer around its default serializer, with our cipher).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.serde.base import CipherProtocol
from langgraph.checkpoint.serde.encrypted import EncryptedSerializer
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph.state import CompiledStateGraph
from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

from db.engine import libpq_url
from db.pii import FieldCipher

from .builder import builder
from .context import Context
from .state import InputState, State

SCHEMA = "agent"

CompiledGraph = CompiledStateGraph[State, Context, InputState, State]


def connection_kwargs() -> dict[str, Any]:
    """What every checkpointer connection needs (also what the migration connects with)."""
    return {"autocommit": True, "row_factory": dict_row, "options": f"-c search_path={SCHEMA}"}


def open_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> ConnectionPool[Connection[DictRow]]:
    pool: ConnectionPool[Connection[DictRow]] = ConnectionPool(
        libpq_url(database_url),
        connection_class=Connection[DictRow],
        kwargs=connection_kwargs(),
        min_size=min_size,
        max_size=max_size,
        max_idle=300,  # seconds an idle connection is kept
        max_lifetime=1800,  # seconds before a connection is replaced
        # An empty query before a connection is lent: a Postgres restart leaves none dead in the pool
        # (a turn would fail on it otherwise), for one round trip a turn.
        check=ConnectionPool.check_connection,
        open=True,
    )
    return pool


class CheckpointCipher(CipherProtocol):
    """LangGraph's cipher interface over db.pii's AES-GCM (key id in each value, so keys rotate)."""

    name = "aesgcm"
    associated = b"agent.checkpoints"

    def __init__(self, cipher: FieldCipher) -> None:
        self.cipher = cipher

    def encrypt(self, plaintext: bytes) -> tuple[str, bytes]:
        return self.name, self.cipher.seal(plaintext, self.associated)

    def decrypt(self, ciphername: str, ciphertext: bytes) -> bytes:
        if ciphername != self.name:
            raise ValueError(f"checkpoint sealed with an unknown cipher {ciphername!r}")
        return self.cipher.open(ciphertext, self.associated)


def compile_graph(pool: ConnectionPool[Connection[DictRow]], cipher: FieldCipher) -> CompiledGraph:
    """`builder` compiled with a PostgresSaver on the pool, its checkpoints encrypted."""
    serde = EncryptedSerializer(CheckpointCipher(cipher), JsonPlusSerializer())
    return builder.compile(checkpointer=PostgresSaver(pool, serde=serde))


@contextmanager
def postgres_graph(database_url: str, cipher: FieldCipher, *, max_size: int = 10) -> Iterator[CompiledGraph]:
    """The checkpointed graph for as long as the block runs; the pool closes after."""
    pool = open_pool(database_url, max_size=max_size)
    try:
        yield compile_graph(pool, cipher)
    finally:
        pool.close()


def prune_history(compiled: CompiledGraph, thread_ids: Sequence[str]) -> None:
    """Keep only the latest checkpoint of each thread (checkpoints otherwise grow without bound).
    Run it for threads that are idle: forking or replaying from a pruned checkpoint is not possible."""
    saver = compiled.checkpointer
    if not isinstance(saver, PostgresSaver):
        raise TypeError("prune_history needs a graph compiled with the PostgresSaver")
    saver.prune(list(thread_ids), strategy="keep_latest")
