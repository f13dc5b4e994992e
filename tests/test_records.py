"""Records: the syntax tree's and the model's classes, made as frozen dataclasses are."""

import pickle

import pytest

from guidec.dsl import records
from guidec.dsl.diagnostics import NO_SPAN, Span
from guidec.dsl.records import field, record


@record
class Node:
    name: str
    size: int = 2
    tags: list[str] = field(default_factory=list)
    span: Span = field(default=NO_SPAN, compare=False, repr=False)


@record
class Leaf(Node):
    colour: str = "green"


@record(kw_only=False)
class Pair:
    left: int
    right: int = 0


@record(frozen=False, kw_only=False)
class Counter:
    count: int
    seen: list[int] = field(default_factory=list)


def test_fields_are_given_by_keyword_with_their_defaults_and_fresh_factories():
    a, b = Node(name="a"), Node(name="b", size=5)
    assert (a.name, a.size, a.tags, a.span) == ("a", 2, [], NO_SPAN)
    assert b.size == 5 and a.tags is not b.tags
    with pytest.raises(TypeError):
        Node("a")  # keyword only
    with pytest.raises(TypeError):
        Node()  # name is required
    with pytest.raises(TypeError):
        Node(name="a", colour="red")  # not a field of Node


def test_a_subclass_has_its_bases_fields_first():
    leaf = Leaf(name="x", colour="red")
    assert [f.name for f in records.fields(leaf)] == ["name", "size", "tags", "span", "colour"]
    assert repr(leaf) == "Leaf(name='x', size=2, tags=[], colour='red')"  # span not shown


def test_equality_and_hash_ignore_fields_not_compared():
    here, there = Span("f.gl", 1, 1, 1, 5), Span("f.gl", 9, 1, 9, 5)
    assert Node(name="a", span=here) == Node(name="a", span=there)
    assert hash(Pair(1, 2)) == hash(Pair(1, 2)) and len({Pair(1, 2), Pair(1, 2)}) == 1
    assert Node(name="a") != Node(name="a", size=3)
    assert Node(name="a") != Leaf(name="a")  # another class is never equal
    assert Pair(1, 2) != (1, 2)


def test_frozen_records_refuse_assignment_and_have_no_instance_dictionary():
    n = Node(name="a")
    with pytest.raises(AttributeError):
        n.name = "b"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del n.size  # type: ignore[misc]
    assert not hasattr(n, "__dict__")


def test_positional_and_mutable_records():
    p = Pair(1)
    assert (p.left, p.right) == (1, 0) and Pair(left=3, right=4).right == 4
    c = Counter(1)
    c.count += 1
    c.seen.append(5)
    assert c == Counter(2, [5])
    with pytest.raises(TypeError):
        hash(c)  # mutable and compared: unhashable, as a dataclass is


def test_pickling_and_replace_keep_every_field():
    n = Leaf(name="a", tags=["t"], span=Span("f.gl", 3, 1, 3, 4), colour="red")
    back = pickle.loads(pickle.dumps(n))
    assert back == n and back.span == n.span and type(back) is Leaf
    changed = records.replace(n, size=7)
    assert (changed.size, changed.colour, changed.span) == (7, "red", n.span)
    assert n.size == 2
    with pytest.raises(TypeError):
        records.replace(n, weight=1)
    assert records.is_record(n) and not records.is_record(Leaf) and not records.is_record(3)
