"""Schemathesis against the OpenAPI document of every operation, on the real app and Postgres: no
5xx, every status declared, every response in its declared schema, schema-invalid input refused.

The staff pages (/admin, the login forms) are not in the document (HTML for browsers, each form
CSRF-bound); tests/test_bad_input.py covers their forms. Each operation gets the document's examples,
schemathesis's coverage phase (each field's boundaries and wrong types, deterministic) and ten
hypothesis examples, `derandomize`d and with no example database: about a minute for the file.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import build_app, create_app
from hibachi.bootstrap import Container
from tests.conftest import Providers, service_headers
from tests.factories import create_booking_cmd

DOCUMENT = build_app("Booking API").openapi()
EXAMPLE_REFERENCE = "MH-7Q3K9"  # the reference the document's examples use
schema = schemathesis.openapi.from_dict(DOCUMENT)

# Schema-valid input a rule of the business refuses (a ZIP outside the service area, a party below
# the minimum, a date outside the booking window) is a 422 by design: valid by the schema is not
# accepted by the business, so that check is left out; every other check runs.
EXCLUDED = [positive_data_acceptance]


@pytest.fixture
def booked(container: Container) -> str:
    """A booking for the examples to reach (they name EXAMPLE_REFERENCE): its reference."""
    return str(container.bus.handle(create_booking_cmd(day="2026-12-12", slot="18:00")).body["reference"])


@schema.parametrize()
@settings(
    max_examples=10,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_keeps_its_contract(
    case: Any, container: Container, wired_providers: Providers, booked: str
) -> None:
    if case.path_parameters and case.path_parameters.get("reference") == EXAMPLE_REFERENCE:
        case.path_parameters["reference"] = booked
    if isinstance(case.body, dict) and case.body.get("reference") == EXAMPLE_REFERENCE:
        case.body["reference"] = booked
    # The owner may call everything, so the operations are exercised past their 401/403.
    headers = service_headers(container, "owner")
    case.call_and_validate(app=create_app(container), headers=headers, excluded_checks=EXCLUDED)


def test_the_document_covers_the_webhooks_and_declares_the_errors() -> None:
    operations = {(method.upper(), path) for path, item in DOCUMENT["paths"].items() for method in item}
    webhooks = {"/webhooks/stripe", "/webhooks/plaid", "/webhooks/ringcentral", "/webhooks/google-calendar"}
    assert {("POST", path) for path in webhooks} <= operations
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            declared = set(operation["responses"])
            if "requestBody" in operation:
                assert "413" in declared, (method, path)
            if path.startswith(("/commands/", "/queries/")):
                assert {"401", "403", "422"} <= declared, (method, path)
