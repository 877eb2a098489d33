"""`@record`: digest's data classes, made as `@dataclass(slots=True)` makes them at a third less start-up.

For every class, `dataclass` writes the source of its `__init__`, `__repr__` and `__eq__` and compiles
each: ~4 million instructions a class, and a `digest` command makes ~30 of them before it does anything
(a fifth of an all-304 refresh's start-up; tests/bench/steady_instructions.py). `record` lets
`dataclass` write `__init__` only, and gives the class the `__repr__` and `__eq__` below, written once
for all: the same text, the same equality (the same class and equal fields, compared as a tuple, as
`dataclass` does) and, like a `dataclass` with `eq`, no hash. `fields`, `replace`, `asdict`, pickling
and type checkers (`dataclass_transform`) see a dataclass. A frozen class is made with `dataclass`
itself (its hash and `__setattr__` are generated too).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from reprlib import recursive_repr
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")


@recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
    return f"{type(self).__qualname__}({shown})"


def _values(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, f.name) for f in fields(obj) if f.compare)


def _eq(self: Any, other: object) -> Any:
    if other.__class__ is self.__class__:
        return _values(self) == _values(other)
    return NotImplemented


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    own = cls.__dict__  # what the class body wrote itself stays, as with dataclass
    made = dataclass(slots=True, repr=False, eq=False)(cls)
    if "__repr__" not in own:
        made.__repr__ = _repr  # type: ignore[method-assign]
    if "__eq__" not in own:
        made.__eq__ = _eq  # type: ignore[method-assign]
    if "__hash__" not in own:
        made.__hash__ = None  # type: ignore[assignment]
    return made
