"""Record classes: the syntax tree, the checked model and the other plain data of guidec.

`@record` makes what `@dataclass(frozen=True, slots=True, kw_only=True)` makes: slots for
the annotated fields, an `__init__` taking them by keyword (or in order, with
`kw_only=False`), `__eq__` and `__hash__` over the fields compared, `__repr__` over the
fields shown, assignment refused when frozen, and pickling. Type checkers read it as a
dataclass (`dataclass_transform`).

Why not `dataclasses`: it writes and compiles the source of five or six methods for every
class when the class is made, about 0.7 ms a class. guidec has some seventy such classes, and
every command paid for them before doing anything (a `guidec check` of one file spent 50 of its
300 ms there). Here the comparison, hashing and representation are shared functions that read
the class's field names, and `__init__` is written for a class the first time one is made: a
process pays only for the classes it uses, once, and each instance is made as fast as a
dataclass makes it.
"""

from __future__ import annotations

from operator import attrgetter
from typing import Any, Callable, ClassVar, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenRecordError(AttributeError):
    """An assignment to a field of a frozen record."""


class Field:
    """One field of a record: its name, default (or a function making it), and whether it
    takes part in equality and in the representation."""

    __slots__ = ("name", "default", "default_factory", "compare", "repr")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING,
                 compare: bool = True, repr: bool = True) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("a field cannot have both a default and a default_factory")
        self.name = ""
        self.default = default
        self.default_factory = default_factory
        self.compare = compare
        self.repr = repr


@overload
def field(*, default: _T, compare: bool = True, repr: bool = True) -> _T: ...


@overload
def field(*, default_factory: Callable[[], _T], compare: bool = True,
          repr: bool = True) -> _T: ...


@overload
def field(*, compare: bool = True, repr: bool = True) -> Any: ...


def field(*, default: Any = MISSING, default_factory: Any = MISSING, compare: bool = True,
          repr: bool = True) -> Any:
    """A field's options, as `dataclasses.field` takes them."""
    return Field(default, default_factory, compare, repr)


def _is_classvar(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return annotation is ClassVar or getattr(annotation, "__origin__", None) is ClassVar


def _fields_of(cls: type) -> dict[str, Field]:
    found: dict[str, Field] = {}
    for base in reversed(cls.__mro__[1:]):
        found.update(getattr(base, "__record_fields__", {}))
    return found


@overload
def record(cls: type[_T], /) -> type[_T]: ...


@overload
def record(*, frozen: bool = True, kw_only: bool = True, eq: bool = True,
           slots: bool = True) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field, Field))
def record(cls: type[_T] | None = None, /, *, frozen: bool = True, kw_only: bool = True,
           eq: bool = True, slots: bool = True) -> Any:
    """Make `cls` a record (see the module's docstring); `@record` or `@record(...)`.
    `slots=False` keeps an instance dictionary, for a class whose methods add attributes."""
    def make(c: type[_T]) -> type[_T]:
        return _make(c, frozen, kw_only, eq, slots)
    return make if cls is None else make(cls)


def _make(cls: type[_T], frozen: bool, kw_only: bool, eq: bool, slots: bool) -> type[_T]:
    fields = _fields_of(cls)
    ns = dict(cls.__dict__)
    own: list[str] = []
    for name, annotation in ns.get("__annotations__", {}).items():
        if _is_classvar(annotation):
            continue
        value = ns.pop(name, MISSING)
        f = value if isinstance(value, Field) else Field(default=value)
        f.name = name
        if name not in fields:
            own.append(name)
        fields[name] = f
    if slots:
        ns.pop("__dict__", None)
        ns.pop("__weakref__", None)
        ns["__slots__"] = tuple(own)
    ns["__record_fields__"] = fields
    names = tuple(fields)
    ns["__record_names__"] = names
    ns["__record_kw_only__"] = kw_only
    ns["__record_frozen__"] = frozen
    ns["__match_args__"] = () if kw_only else names
    compared = tuple(n for n, f in fields.items() if f.compare)
    ns["__record_key__"] = (attrgetter(*compared) if len(compared) > 1
                            else (lambda x, _g=attrgetter(*compared): (_g(x),)) if compared
                            else (lambda x: ()))
    ns["__record_shown__"] = tuple(n for n, f in fields.items() if f.repr)

    def put(name: str, value: object) -> None:
        if name not in cls.__dict__:
            ns[name] = value

    ns["__init__"] = cls.__dict__.get("__init__", _first_init)
    put("__repr__", _repr)
    if eq:
        put("__eq__", _eq)
        if frozen:
            put("__hash__", _hash)
        elif "__hash__" not in cls.__dict__:
            ns["__hash__"] = None  # as dataclasses do: mutable and compared means unhashable
    if frozen:
        put("__setattr__", _frozen_setattr)
        put("__delattr__", _frozen_delattr)
    put("__reduce__", _reduce)
    maker: Any = type(cls)
    made: type[_T] = maker(cls.__name__, cls.__bases__, ns)
    return made


def _first_init(self: Any, *args: Any, **kwargs: Any) -> None:
    """The first instance of a class writes the class's `__init__`, then is made by it."""
    cls = type(self)
    init = _write_init(cls)
    type.__setattr__(cls, "__init__", init)
    init(self, *args, **kwargs)


def _write_init(cls: type) -> Callable[..., None]:
    fields: dict[str, Field] = cls.__record_fields__  # type: ignore[attr-defined]
    env: dict[str, Any] = {"_set": object.__setattr__, "_MISSING": MISSING}
    params, body = [], []
    ordered = list(fields.values())
    if not cls.__record_kw_only__:  # type: ignore[attr-defined]
        # Required fields may not follow defaulted ones when positional, as in dataclasses.
        seen_default = False
        for f in ordered:
            has_default = f.default is not MISSING or f.default_factory is not MISSING
            if seen_default and not has_default:
                raise TypeError(f"{cls.__name__}: non-default field {f.name!r} follows a "
                                "default field")
            seen_default = seen_default or has_default
    # A frozen record's fields are set past its __setattr__, as dataclasses set them.
    frozen = cls.__record_frozen__  # type: ignore[attr-defined]
    for f in ordered:
        n = f.name
        value = n
        if f.default_factory is not MISSING:
            env[f"_factory_{n}"] = f.default_factory
            params.append(f"{n}=_MISSING")
            value = f"_factory_{n}() if {n} is _MISSING else {n}"
        elif f.default is not MISSING:
            env[f"_default_{n}"] = f.default
            params.append(f"{n}=_default_{n}")
        else:
            params.append(n)
        body.append(f"_set(self, {n!r}, {value})" if frozen else f"self.{n} = {value}")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    star = "*, " if cls.__record_kw_only__ and params else ""  # type: ignore[attr-defined]
    src = (f"def __init__(self, {star}{', '.join(params)}):\n    "
           + ("\n    ".join(body) or "pass") + "\n")
    exec(compile(src, f"<record {cls.__qualname__}>", "exec"), env)  # noqa: S102 - field names only
    init: Callable[..., None] = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _repr(self: Any) -> str:
    shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in type(self).__record_shown__)
    return f"{type(self).__qualname__}({shown})"


def _eq(self: Any, other: object) -> bool:
    cls: Any = self.__class__
    key = cls.__record_key__
    if other.__class__ is cls:
        return bool(key(self) == key(other))
    return NotImplemented  # type: ignore[no-any-return]


def _hash(self: Any) -> int:
    cls: Any = self.__class__
    return hash(cls.__record_key__(self))


def _frozen_setattr(self: Any, name: str, value: object) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: Any, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r}")


def _reduce(self: Any) -> tuple[Any, ...]:
    cls = type(self)
    return (_rebuild, (cls, tuple(getattr(self, n) for n in cls.__record_names__)))


def _rebuild(cls: type[_T], values: tuple[Any, ...]) -> _T:
    """A pickled record read back: its fields set as they were, without `__init__`."""
    obj = object.__new__(cls)
    for name, value in zip(cls.__record_names__, values):  # type: ignore[attr-defined]
        object.__setattr__(obj, name, value)
    return obj


def is_record(x: object) -> bool:
    """Whether `x` is a record instance (not a record class)."""
    return hasattr(type(x), "__record_fields__") and not isinstance(x, type)


def fields(x: object) -> tuple[Field, ...]:
    """A record's (or record class's) fields, in order."""
    cls = x if isinstance(x, type) else type(x)
    return tuple(cls.__record_fields__.values())  # type: ignore[attr-defined]


def replace(x: _T, /, **changes: Any) -> _T:
    """A copy of a record with some fields changed, as `dataclasses.replace` makes it."""
    cls = type(x)
    values = {n: getattr(x, n) for n in cls.__record_names__}  # type: ignore[attr-defined]
    unknown = set(changes) - values.keys()
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return cls(**values)
