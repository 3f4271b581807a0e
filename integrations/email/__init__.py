"""Email through SMTP (`aiosmtplib`): the adapter the booking emails (services/email.py) send with.

Settings: SMTP_HOST, SMTP_PORT, SMTP_USERNAME and SMTP_PASSWORD (together), SMTP_SECURITY
(`starttls`, `tls` or `none`), EMAIL_FROM. Unset SMTP_HOST: `make run` starts a local mail catcher
(`MailCatcher`, aiosmtpd) that keeps every message as an .eml file under .data/mail/, so the demo's
emails can be read; tests use the same catcher.

Delivery is at least once: a message whose SMTP transaction broke after the server accepted it is
sent again by the outbox's retry, with the same Message-ID (the outbox row's id), which mail
clients use to collapse the copy.
"""

from __future__ import annotations

import asyncio
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal

import aiosmtplib
from aiosmtpd.controller import Controller

Security = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    security: Security = "starttls"
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 15.0


class SmtpMailer:
    """Sends one composed message over SMTP (a sync call: outbox targets run on worker threads)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, message: EmailMessage) -> None:
        config = self.config
        asyncio.run(
            aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.security == "tls",
                start_tls=config.security == "starttls",
                timeout=config.timeout_seconds,
            )
        )


class _Keep:
    """aiosmtpd handler: each message received is kept in memory and, with a folder, as an .eml file."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or envelope.content
        parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{len(self.messages):05d}.eml").write_bytes(raw)
        return "250 Message accepted for delivery"


class MailCatcher:
    """A local SMTP server that accepts everything and keeps it: the offline stand-in for a mail
    provider (tests; `make run` without SMTP_HOST)."""

    def __init__(self, folder: Path | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = _Keep(folder)
        self.controller = Controller(self.handler, hostname=host, port=port or _free_port(host))
        self.running = False

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def start(self) -> SmtpConfig:
        self.controller.start()
        self.running = True
        return SmtpConfig(self.controller.hostname, self.controller.port, "bookings@localhost", security="none")

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port
