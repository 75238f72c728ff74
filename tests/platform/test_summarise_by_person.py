"""``summarise_by_person``, the services' one grouping of a lookup's rows into entries."""

from __future__ import annotations

from typing import Any

from journalloft.plugin import summarise_by_person


def _status(item: dict[str, Any]) -> bool:
    return bool(item["status"] == "active")


def test_each_person_gets_their_items_in_order_and_how_many_are_active() -> None:
    items = [
        ("b", {"id": 3, "status": "ended"}),
        ("a", {"id": 2, "status": "active"}),
        ("b", {"id": 1, "status": "active"}),
        ("b", {"id": 2, "status": "active"}),
    ]
    found = summarise_by_person(
        items, listed_as="services", order=lambda i: i["id"], active=_status
    )
    assert found == {
        "a": {"active_count": 1, "services": [{"id": 2, "status": "active"}]},
        "b": {
            "active_count": 2,
            "services": [
                {"id": 1, "status": "active"},
                {"id": 2, "status": "active"},
                {"id": 3, "status": "ended"},
            ],
        },
    }
    assert list(found["b"]) == ["active_count", "services"]  # the answer's member order


def test_none_active_counts_zero_and_nothing_is_absent() -> None:
    found = summarise_by_person(
        [("a", {"id": 1, "status": "ended"})],
        listed_as="x",
        order=lambda i: i["id"],
        active=_status,
    )
    assert found["a"]["active_count"] == 0
    assert summarise_by_person([], listed_as="x", order=lambda i: i, active=bool) == {}


def test_shown_renders_each_item_after_ordering_by_the_item() -> None:
    items = [("a", (2, "alpha")), ("a", (1, "zulu"))]
    found = summarise_by_person(
        items,
        listed_as="names",
        order=lambda i: i[0],
        active=lambda i: i[0] == 1,
        shown=lambda i: i[1],
    )
    assert found == {"a": {"active_count": 1, "names": ["zulu", "alpha"]}}
