"""Provider webhooks: public routes that verify the provider's signature themselves."""

from __future__ import annotations

from typing import Any


def provider_json_body(what: str) -> dict[str, Any]:
    """`openapi_extra` for a webhook's body: the provider's JSON event, read raw (its signature or
    token covers the bytes as sent), so FastAPI does not parse it and the schema says so here."""
    return {
        "requestBody": {
            "required": True,
            "description": what,
            "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
        }
    }
