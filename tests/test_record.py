"""digest.core.record: a @record class behaves as the @dataclass(slots=True) it stands for."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import field
from typing import Any

import pytest

from digest.core.models import Feed, FetchResult, Story
from digest.core.record import record


@record
class Rec:
    a: int
    b: list[int] = field(default_factory=list)
    hidden: str = field(default="x", repr=False, compare=False)
    nested: Any = None


@dataclasses.dataclass(slots=True)
class Dat:
    a: int
    b: list[int] = field(default_factory=list)
    hidden: str = field(default="x", repr=False, compare=False)
    nested: Any = None


@record
class OwnRepr:
    a: int

    def __repr__(self) -> str:
        return "mine"


VALUES = [
    (1,), (1, [2, 3]), (1, [2], "other"), (0, [], "x", float("nan")), (2, [1], "y", {"k": [1]}),
]


@pytest.mark.parametrize("args", VALUES)
def test_repr_and_equality_are_those_of_the_dataclass(args: tuple[Any, ...]) -> None:
    r, d = Rec(*args), Dat(*args)
    assert repr(r) == repr(d).replace("Dat(", "Rec(")
    for other in VALUES:
        assert (r == Rec(*other)) == (d == Dat(*other)), other
        assert (r != Rec(*other)) == (d != Dat(*other)), other
    assert r != d and r != args  # another class is never equal
    assert (r == r) is (d == d)  # a NaN field: a tuple compares the same object as equal


def test_no_hash_slots_and_the_dataclass_functions() -> None:
    r = Rec(1, [2])
    with pytest.raises(TypeError):
        hash(r)
    with pytest.raises(AttributeError):
        r.extra = 1  # type: ignore[attr-defined]
    assert dataclasses.is_dataclass(r) and [f.name for f in dataclasses.fields(r)] == ["a", "b", "hidden", "nested"]
    assert dataclasses.replace(r, a=5) == Rec(5, [2]) and dataclasses.asdict(r)["b"] == [2]
    assert pickle.loads(pickle.dumps(r)) == r and copy.deepcopy(r) == r
    assert Rec.__match_args__ == Dat.__match_args__


def test_a_repr_of_its_own_is_kept_and_recursion_is_cut() -> None:
    assert repr(OwnRepr(1)) == "mine"
    r = Rec(1)
    r.nested = r
    assert repr(r) == "Rec(a=1, b=[], nested=...)"


def test_the_models_are_records() -> None:
    """The store's and the refresh's classes, as the rest of digest uses them."""
    feed = Feed(1, "http://example.com/feed")
    assert feed == Feed(1, "http://example.com/feed") and feed != Feed(2, "http://example.com/feed")
    assert repr(feed).startswith("Feed(id=1, url='http://example.com/feed', ")
    result = FetchResult("ok", body=b"<rss/>")
    assert pickle.loads(pickle.dumps(result)) == result  # crosses to the parse workers
    assert "image" in {f.name for f in dataclasses.fields(Story)}
