"""The ASGI entry point for process managers (`uvicorn api.main:create_app_from_settings --factory`,
and `hibachi run` with WEB_WORKERS > 1): wires the app from the environment's settings. It does not
migrate or load the business file; `hibachi run` / `hibachi migrate` do that once, before serving."""

from __future__ import annotations

from fastapi import FastAPI

from agent.engines import make_engine, make_phraser
from api.app import create_app
from hibachi.bootstrap import bootstrap
from hibachi.business_file import load_business
from hibachi.cli import stripe_config
from hibachi.settings import load_settings


def create_app_from_settings() -> FastAPI:
    settings = load_settings()
    if not settings.database_url:
        raise RuntimeError("DATABASE_URL must be set for a worker process (hibachi run sets it)")
    container = bootstrap(
        database_url=settings.database_url,
        business=load_business(settings.business_file),
        cipher=settings.cipher(),
        blind=settings.blind_index(),
        token_key=settings.token_key(),
        stripe=stripe_config(settings),
        outbox_max_attempts=settings.outbox_max_attempts,
        understander=make_engine(settings),
        phraser=make_phraser(settings),
    )
    return create_app(container)
