"""`langgraph dev` serves the `booking` graph of langgraph.json: a thread, two turns over its HTTP API.

The server runs as a subprocess from the project root with the project's langgraph.json, on a scratch
database (migrated and loaded first with `hibachi load-business`) and fresh keys; it builds the
graph's context from those settings itself. Its own threads and checkpoints stay in memory and in
`.langgraph_api/` (git-ignored), as they do for a developer.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.embedded import drop_database, ensure_database
from hibachi.processes import free_port
from hibachi.settings import KEY_SETTINGS, PROJECT_ROOT, fresh_keys

LANGGRAPH = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or shutil.which("langgraph")


def _missing_cli() -> str | None:
    if LANGGRAPH is None:
        return "the langgraph CLI is not installed (pip install 'langgraph-cli[inmem]')"
    if importlib.util.find_spec("langgraph_api") is None or importlib.util.find_spec("langgraph_runtime_inmem") is None:
        return "langgraph-cli is installed without its [inmem] extra (pip install 'langgraph-cli[inmem]')"
    return None


pytestmark = pytest.mark.skipif(_missing_cli() is not None, reason=_missing_cli() or "")


@pytest.fixture
def scratch_url(admin_url: str) -> Iterator[str]:
    name = f"hibachi_lgdev_{uuid.uuid4().hex[:8]}"
    url = ensure_database(admin_url, name)
    yield url
    drop_database(admin_url, name)


def _server_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in KEY_SETTINGS}
    return env | {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        **fresh_keys("k1"),
        # Nothing leaves the machine: no CLI analytics, no LangSmith tracing.
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
        "LANGSMITH_TRACING": "false",
        "LANGCHAIN_TRACING_V2": "false",
        "PYTHONUNBUFFERED": "1",
    }


def _reply(result: Any) -> str:
    """The text of the last message of a run's final state, which must be the agent's."""
    assert isinstance(result, dict), result
    last = result["messages"][-1]
    assert last["type"] == "ai", last
    content = last["content"]
    if isinstance(content, list):  # content blocks
        content = "".join(block.get("text", "") for block in content if isinstance(block, dict))
    assert isinstance(content, str) and content, last
    return content


def test_langgraph_dev_serves_the_booking_graph(tmp_path: Path, scratch_url: str) -> None:
    assert LANGGRAPH is not None
    env = _server_env(scratch_url, tmp_path / "data")
    loaded = subprocess.run(
        [sys.executable, "-m", "hibachi.cli", "load-business"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "langgraph-dev.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [
                LANGGRAPH,
                "dev",
                "--no-browser",
                "--no-reload",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--config",
                "langgraph.json",
            ],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def server_log() -> str:
        return log_path.read_text(errors="replace")[-6000:]

    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"langgraph dev exited with {server.returncode}:\n{server_log()}"
            try:
                if httpx.get(f"{base}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"langgraph dev did not answer in time:\n{server_log()}"
            time.sleep(0.25)

        with httpx.Client(base_url=base, timeout=120) as client:
            assistants = client.post("/assistants/search", json={"graph_id": "booking"})
            assert assistants.status_code == 200, assistants.text
            assert [a["graph_id"] for a in assistants.json()] == ["booking"]
            schemas = client.get(f"/assistants/{assistants.json()[0]['assistant_id']}/schemas")
            assert schemas.status_code == 200, schemas.text
            schema = schemas.json()
            assert "messages" in schema["input_schema"]["properties"]  # what Studio's chat view needs
            assert set(schema["context_schema"]["properties"]) == {"channel", "customer_phone", "customer_email"}

            thread = client.post("/threads", json={})
            assert thread.status_code == 200, thread.text
            thread_id = thread.json()["thread_id"]

            def turn(text: str) -> str:
                response = client.post(
                    f"/threads/{thread_id}/runs/wait",
                    json={"assistant_id": "booking", "input": {"messages": [{"role": "user", "content": text}]}},
                )
                assert response.status_code == 200, f"{response.status_code} {response.text}\n{server_log()}"
                result = response.json()
                assert "__error__" not in result, f"{result}\n{server_log()}"
                return _reply(result)

            first = turn("hi, I'd like a hibachi party on December 12 at 6pm").lower()
            assert "how many" in first and "guests" in first, first

            second = turn("12 adults").lower()
            assert "12 adults" in second and "how many guests" not in second, second  # moves on to the kids

            # JSON context (what Studio's context form sends) reaches the nodes: HELP is a keyword on SMS only.
            sms_thread = client.post("/threads", json={}).json()["thread_id"]
            helped = client.post(
                f"/threads/{sms_thread}/runs/wait",
                json={
                    "assistant_id": "booking",
                    "input": {"messages": [{"role": "user", "content": "HELP"}]},
                    "context": {"channel": "sms", "customer_phone": "+19165550123"},
                },
            )
            assert helped.status_code == 200, helped.text
            assert "reply stop to opt out" in _reply(helped.json()).lower(), helped.json()

            state = client.get(f"/threads/{thread_id}/state")
            assert state.status_code == 200, state.text
            values = state.json()["values"]
            assert values["slots"]["party_adults"] == 12
            assert [m["type"] for m in values["messages"]] == ["human", "ai", "human", "ai"]
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
