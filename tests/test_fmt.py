"""guidec fmt: one canonical layout, comments kept, idempotent, and the same compiled graph."""

import random
import re

import pytest

from conftest import ROOT, guidec
from guidec.compiler.pipeline import compile_source, find_guidelines
from guidec.dsl import ast, formatter, parser

LIBRARY = find_guidelines([str(ROOT / "guidelines")])
GUIDELINES = [p for p in LIBRARY if p.name != "facts.gl"]


def fmt(text: str, path: str = "t.gl") -> str:
    result = parser.parse(text, path)
    assert result.complete and not result.diagnostics, result.diagnostics
    return formatter.format_guideline(result.guideline, text)


def graph_signature(text: str, path: str):
    """The compiled graph as comparable data: nodes with attributes, labelled edges (no spans)."""
    c = compile_source(text, path)
    assert c.ok, c.render_diagnostics()
    nodes = {n: {k: v for k, v in d.items() if k != "span"} for n, d in c.graph.nodes(data=True)}
    edges = {(u, v, k): d["label"] for u, v, k, d in c.graph.edges(keys=True, data=True)}
    return nodes, edges


def mess_up(text: str, seed: int) -> str:
    """Same tokens, different layout: random indentation and extra blanks between tokens."""
    rng = random.Random(seed)
    token = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\n|[ \t]+|[^\s"#]+')
    out = []
    for m in token.finditer(text):
        t = m.group()
        if t == "\n":
            out.append("\n" + " " * rng.choice([0, 1, 3, 6]))
        elif t.isspace():
            out.append(" " * rng.choice([1, 2, 4]))
        else:
            out.append(t)
    return "".join(out)


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_library_is_formatted_and_formatting_is_idempotent(path):
    text = path.read_text()
    assert fmt(text, str(path)) == text


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.name)
def test_messed_up_copy_formats_back_to_same_text_and_graph(path):
    text = path.read_text()
    messy = mess_up(text, seed=len(text))
    assert messy != text
    assert fmt(messy, str(path)) == text
    if path.name != "facts.gl":  # declarations compile to a schema, not a graph
        assert graph_signature(messy, str(path)) == graph_signature(text, str(path))


def test_comments_are_kept():
    src = ('# top\nguideline t.c "C"\n  applies when request.treatment in {massage}\n\n'
           '# about the rule\nrequire r\n  # inside the rule\n  must findings.flare_up   '
           '# trailing\n  cite p. 1\n# at the end\n')
    out = fmt(src)
    for c in ("# top", "# about the rule", "# inside the rule", "# trailing", "# at the end"):
        assert c in out
    assert out.index("# about the rule") < out.index("require r")
    assert fmt(out) == out


def test_parentheses_only_where_needed():
    src = ('guideline t.p "P"\n  applies when request.treatment in {massage}\n'
           'define a = (1 + 2) * 3 - (4 - 5)\n'
           'define b = not (findings.flare_up or findings.return_to_work) and true\n'
           'require r must a > 0 and b cite p. 1\n')
    out = fmt(src)
    assert "define a = (1 + 2) * 3 - (4 - 5)" in out
    assert "define b = not (findings.flare_up or findings.return_to_work) and true" in out
    assert graph_signature(out, "t.gl") == graph_signature(src, "t.gl")


def test_every_ast_node_class_has_a_formatter_case():
    exprs = {c for c in vars(ast).values()
             if isinstance(c, type) and issubclass(c, ast.Expr) and c is not ast.Expr}
    assert exprs <= set(formatter.EXPR), exprs - set(formatter.EXPR)
    items = set(ast.Item.__args__)
    assert items == set(formatter.ITEMS)


def test_fmt_check_cli(tmp_path):
    src = (ROOT / "guidelines/mtus/chronic_pain/massage.gl").read_text()
    bad = tmp_path / "massage.gl"
    bad.write_text(mess_up(src, 3))
    r = guidec("fmt", "--check", str(bad))
    assert r.returncode == 1 and "(formatted)" in r.stdout and r.stdout.startswith("---")
    assert bad.read_text() != src
    r = guidec("fmt", str(bad))
    assert r.returncode == 0 and bad.read_text() == src
    assert guidec("fmt", "--check", str(bad)).returncode == 0
    assert guidec("fmt", "--check", "guidelines/").returncode == 0
