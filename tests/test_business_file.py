"""hibachi.business_file: the demo file loads; broken files are refused naming the field and why."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.business import CancellationRules
from hibachi.business_file import DEFAULT_BUSINESS_FILE, BusinessFileError, load_business, parse_business


def demo_data() -> dict[str, Any]:
    data = yaml.safe_load(DEFAULT_BUSINESS_FILE.read_text())
    assert isinstance(data, dict)
    return copy.deepcopy(data)


# --- the default file ----------------------------------------------------------------------------


def test_default_file_is_the_demo_business() -> None:
    business = load_business()
    assert business.name == "MyHibachi (demo)"
    assert business.timezone == "America/Los_Angeles"
    assert business.currency == "USD"
    assert [c.name for c in business.chefs] == ["Kenji Sato", "Maria Lopez", "Tony Nguyen"]
    assert [c.zones for c in business.chefs] == [("A", "B", "C"), ("A", "B"), ("A", "B", "C")]
    assert [z.id for z in business.zones] == ["A", "B", "C"]
    assert [z.travel_fee_cents for z in business.zones] == [0, 5000, 10000]
    assert business.zone("B").zip_prefixes == ("956", "957")
    assert "958" in business.zone("A").zip_prefixes
    assert len(business.zone("C").zip_prefixes) == 10
    assert business.calendar.slots == (time(12), time(15), time(18), time(21))
    assert business.party.max_guests == 60
    assert business.pricing.minimum_cents == 60000
    assert business.cancellation == CancellationRules(refund_min_days_before=7, free_reschedules=1)
    assert "cancellation" in business.policies


def test_load_business_accepts_a_path_string_and_a_copied_file(tmp_path: Path) -> None:
    target = tmp_path / "copy.yaml"
    target.write_text(DEFAULT_BUSINESS_FILE.read_text())
    assert load_business(str(target)) == load_business()


def test_slots_are_sorted() -> None:
    data = demo_data()
    data["calendar"]["slots"] = ["18:00", "12:00", "21:00", "15:00"]
    assert parse_business(data).calendar.slots == (time(12), time(15), time(18), time(21))


def test_cancellation_numbers_can_be_set() -> None:
    data = demo_data()
    data["cancellation"] = {"refund_min_days_before": 3, "free_reschedules": 2}
    assert parse_business(data).cancellation == CancellationRules(3, 2)


# --- broken dicts --------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[part]
        del node[last]

    return change


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], list[str]]] = [
    ("adult price is text", _set("pricing.adult_cents", "sixty"), ["pricing.adult_cents", "valid integer"]),
    ("negative kid price", _set("pricing.kid_cents", -1), ["pricing.kid_cents", "greater than or equal to 0"]),
    ("price as float", _set("pricing.deposit_cents", 100.5), ["pricing.deposit_cents"]),
    ("chef in unknown zone", _set("chefs.0.zones", ["A", "Z"]), ["chefs.0.zones", "unknown zone 'Z'"]),
    ("third chef in unknown zone", _set("chefs.2.zones", ["Q"]), ["chefs.2.zones", "'Q'"]),
    ("missing calendar", _delete("calendar"), ["calendar", "Field required"]),
    ("missing pricing field", _delete("pricing.minimum_cents"), ["pricing.minimum_cents", "Field required"]),
    ("unknown top-level key", _set("loyalty_points", 5), ["loyalty_points", "Extra inputs are not permitted"]),
    ("unknown nested key", _set("calendar.lunch_break", 30), ["calendar.lunch_break", "Extra inputs"]),
    ("bad timezone", _set("business.timezone", "Mars/Olympus_Mons"), ["business.timezone", "Mars/Olympus_Mons"]),
    ("ZIP prefix in two zones", _set("zones.1.zip_prefixes", ["956", "958"]), ["ZIP prefix 958 is in both A and B"]),
    ("zone ids repeat", _set("zones.1.id", "A"), ["zone ids repeat"]),
    ("chef names repeat", _set("chefs.1.name", "Kenji Sato"), ["chef names repeat"]),
    ("slot not a time", _set("calendar.slots", ["12:00", "7pm"]), ["calendar.slots", "7pm"]),
    ("slots repeat", _set("calendar.slots", ["12:00", "12:00"]), ["calendar.slots", "repeat"]),
    ("max before min days", _set("calendar.max_days_ahead", 1), ["max_days_ahead is before min_days_ahead"]),
    ("max below min guests", _set("party.max_guests", 0), ["party.max_guests"]),
    ("bad currency", _set("business.currency", "usd"), ["business.currency"]),
    ("bad ZIP prefix", _set("zones.0.zip_prefixes", ["95"]), ["zones.0.zip_prefixes.0"]),
    ("bad upgrade code", _set("pricing.upgrades", {"Lobster Tail": 1500}), ["pricing.upgrades"]),
    ("no chefs", _set("chefs", []), ["chefs"]),
]


@pytest.mark.parametrize(("change", "mentions"), [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_business_file_is_refused(change: Callable[[dict[str, Any]], None], mentions: list[str]) -> None:
    data = demo_data()
    change(data)
    with pytest.raises(BusinessFileError) as info:
        parse_business(data, source="broken.yaml")
    message = str(info.value)
    assert message.startswith("broken.yaml: ")
    for text in mentions:
        assert text in message


def test_message_pairs_the_path_with_its_reason() -> None:
    data = demo_data()
    data["pricing"]["adult_cents"] = "sixty"
    with pytest.raises(BusinessFileError) as info:
        parse_business(data)
    assert str(info.value) == "business file: pricing.adult_cents: Input should be a valid integer"


def test_every_problem_is_reported() -> None:
    data = demo_data()
    data["pricing"]["adult_cents"] = "sixty"
    del data["calendar"]
    with pytest.raises(BusinessFileError) as info:
        parse_business(data)
    message = str(info.value)
    assert "pricing.adult_cents" in message
    assert "calendar: Field required" in message


@pytest.mark.parametrize("data", [None, [], "business: x", 42])
def test_non_mapping_is_refused(data: Any) -> None:
    with pytest.raises(BusinessFileError):
        parse_business(data)


# --- files ---------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(BusinessFileError) as info:
        load_business(missing)
    message = str(info.value)
    assert str(missing) in message
    assert "cannot read" in message


def test_invalid_yaml(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("business: [unclosed\n  name: x\n")
    with pytest.raises(BusinessFileError) as info:
        load_business(broken)
    message = str(info.value)
    assert message.startswith(f"{broken}: ")
    assert "not valid YAML" in message


def test_valid_yaml_with_a_broken_field_names_the_file(tmp_path: Path) -> None:
    data = demo_data()
    data["calendar"]["event_minutes"] = 0
    path = tmp_path / "zero.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(BusinessFileError) as info:
        load_business(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "calendar.event_minutes" in message


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(BusinessFileError) as info:
        load_business(path)
    assert str(path) in str(info.value)
