"""What handlers and queries need besides the unit of work: the business, the clock, randomness."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from domain.booking import REFERENCE_ALPHABET, REFERENCE_LENGTH, reference_from
from domain.business import Business
from domain.clock import Clock
from domain.errors import DomainError


def random_reference() -> str:
    return reference_from([secrets.randbelow(len(REFERENCE_ALPHABET)) for _ in range(REFERENCE_LENGTH)])


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class ServiceContext:
    business: Business
    clock: Clock
    new_reference: Callable[[], str] = random_reference
    new_id: Callable[[], str] = field(default=new_id)


@contextmanager
def fields_under(prefix: str) -> Iterator[None]:
    """Re-raise domain errors with their field named from the request's top, e.g. `booking.date`."""
    try:
        yield
    except DomainError as error:
        if error.field and not error.field.startswith(prefix):
            error.field = prefix + error.field
        elif error.field is None:
            error.field = prefix.rstrip(".")
        raise
