"""`.gl` source text → AST (the only module that imports lark), with friendly syntax errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import os
import re
from typing import Any, Collection

import lark
import lark.lexer
from lark import Lark, Token, Transformer, v_args

from . import ast
from .diagnostics import Diagnostic, Sink, Span
from .files import cache_dir, package_folder
from .records import record

# Words for the terminals a user may be told were expected.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "a whole number",
    "SIGNED_INT": "a whole number",
    "DECIMAL": "a decimal number (2.5)",
    "PERCENT": "a percent (20%)",
    "SECTION_REF": "a section number (§ 9792.24.1 or § I.C)",
    "EMPTY_INDEX": "'[]'",
    "CODE_TEXT": "a code",
    "STRING": 'a quoted string ("...")',
    "DATE": "a date (YYYY-MM-DD)",
    "CODE": "an ICD-10 code (e.g. M54.1*)",
    "CMP_OP": "a comparison (==, !=, <, <=, >, >=)",
    "PAGE_MARK": "a page reference (p. 12 or pp. 98-99)",
    "$END": "the end of the file",
}

# Item keywords that start a new top-level item at the beginning of a line.
_ITEM_START = re.compile(r"^(valueset|define|section|require|limit|trial|deny|test|fact|"
                         r"vocabulary)\b", re.M)


def _cache_file(text: str) -> str | None:
    """Where the LALR tables for this grammar are kept between runs: the user's cache folder
    (XDG_CACHE_HOME or ~/.cache), named by the grammar's and Lark's hash, so a changed grammar
    or Lark never reads stale tables. No cache when that folder cannot be written."""
    key = hashlib.sha256((text + lark.__version__).encode("utf-8")).hexdigest()[:20]
    base = cache_dir()
    return str(base / f"grammar-{key}.lark") if base is not None else None


# ---------------------------------------------------------------- the lexer
# Lark's contextual lexer gives each parser state a scanner for the terminals it accepts: one
# alternation of their expressions, compiled the first time the state is met. A file meets some
# 70 states, and compiling their alternations cost a check 26 ms of its 300. The scanner below
# tries the same terminals in the same order, each expression compiled once for all states.
# Python's alternation takes the first alternative that matches where it stands, so the first
# terminal that matches is the token Lark's alternation gives (tests/test_parser.py compares
# both on every file of the library and on broken input).
_COMPILED: dict[tuple[str, int], re.Pattern[str]] = {}
_UNLESS: dict[tuple[str, str], tuple[bool, bool]] = {}


def _compiled(regexp: str, flags: int) -> re.Pattern[str]:
    found = _COMPILED.get((regexp, flags))
    if found is None:
        found = _COMPILED[(regexp, flags)] = re.compile(regexp, flags)
    return found


class _TerminalScanner(lark.lexer.Scanner):
    def __init__(self, terminals: list[lark.lexer.TerminalDef], flags: int) -> None:
        # Lark's Scanner compiles its alternation in __init__: not called.
        self.terminals = terminals
        self.allowed_types = {t.name for t in terminals}
        self._tries = [(_compiled(t.pattern.to_regexp(), flags), t.name) for t in terminals]

    def match(self, text: Any, pos: int) -> tuple[str, str] | None:
        s, end = text.text, text.end
        for pattern, name in self._tries:
            m = pattern.match(s, pos, end)
            if m is not None:
                return m.group(0), name
        return None

    def fullmatch(self, text: str) -> str | None:
        for pattern, name in self._tries:
            if pattern.fullmatch(text) is not None:
                return name
        return None


class _BasicLexer(lark.lexer.BasicLexer):
    def _build_scanner(self) -> lark.lexer.Scanner:
        if self.user_callbacks:  # guidec gives Lark no lexer callbacks
            raise NotImplementedError("lexer callbacks")
        terminals, self.callback = _unless(self.terminals, self.g_regex_flags)
        return _TerminalScanner(terminals, self.g_regex_flags)


class _ContextualLexer(lark.lexer.ContextualLexer):
    BasicLexer = _BasicLexer


def _unless(terminals: Collection[lark.lexer.TerminalDef], flags: int,
            ) -> tuple[list[lark.lexer.TerminalDef], dict[str, Any]]:
    """Lark's rule for keywords that an expression also matches (`rule` and NAME): the keyword
    leaves the scanner and the expression's token takes the keyword's type when its text is
    the keyword. As Lark decides it, with each pair of terminals decided once."""
    strs = [t for t in terminals if isinstance(t.pattern, lark.lexer.PatternStr)]
    embedded = set()
    callback: dict[str, Any] = {}
    for retok in terminals:
        if not isinstance(retok.pattern, lark.lexer.PatternRE):
            continue
        unless = []
        for strtok in strs:
            if strtok.priority != retok.priority:
                continue
            pair = (retok.name, strtok.name)
            decided = _UNLESS.get(pair)
            if decided is None:
                text = strtok.pattern.value
                m = _compiled(retok.pattern.to_regexp(), flags).match(text)
                decided = _UNLESS[pair] = (m is not None and m.group(0) == text,
                                           set(strtok.pattern.flags) <= set(retok.pattern.flags))
            if decided[0]:
                unless.append(strtok)
                if decided[1]:
                    embedded.add(strtok.name)
        if unless:
            callback[retok.name] = lark.lexer.UnlessCallback(_TerminalScanner(unless, flags))
    return [t for t in terminals if t.name not in embedded], callback


def _grammar_options() -> tuple[str, dict[str, Any]]:
    text = grammar_text()
    text += "\nheader_start: header | declarations\nitem_start: item\n"
    options: dict[str, Any] = dict(parser="lalr", lexer="contextual", propagate_positions=True,
                                   maybe_placeholders=True,
                                   start=["start", "header_start", "item_start"])
    return text, options


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    text, options = _grammar_options()
    options["_plugins"] = {"ContextualLexer": _ContextualLexer}
    cache = _cache_file(text)
    if cache:
        try:
            return Lark(text, cache=cache, **options)
        except Exception:  # noqa: BLE001 - a damaged cache file: build the tables afresh
            with contextlib.suppress(OSError):
                os.unlink(cache)
    return Lark(text, **options)


def grammar_text() -> str:
    """The grammar as shipped (for `guidec` users curious about the syntax)."""
    return (package_folder("guidec.grammar") / "guideline.lark").read_text("utf-8")


@record(kw_only=False)
class ParseResult:
    guideline: ast.Guideline | None
    diagnostics: list[Diagnostic]
    complete: bool = True  # False: some items had syntax errors and are missing
    lost_names: frozenset[str] = frozenset()  # names the broken items would have defined


# Limits that keep hostile input from exhausting the compiler (README, "Bad input").
MAX_DIGITS = 15  # digits in one number literal
MAX_DEPTH = 100  # nesting of expressions, values and parentheses in the parse tree


def parse(source: str, path: str = "<string>") -> ParseResult:
    """Parse a whole file; on a syntax error, parse item by item to report every broken item."""
    sink = Sink()
    if source.startswith("\ufeff"):  # a byte-order mark is not part of the text
        source = " " + source[1:]
    too_long = _long_numbers(source, path)
    if too_long:
        return ParseResult(None, too_long, complete=False)
    try:
        tree = _lark().parse(source, start="start")
    except lark.exceptions.UnexpectedInput as exc:
        return _parse_items(source, path, sink, exc)
    except lark.exceptions.LarkError as exc:  # never expected: report it located, not raised
        sink.error("E101", f"cannot parse this file: {exc}", Span(path, 1, 1, 1, 2))
        return ParseResult(None, sink.sorted(), complete=False)
    deep = _too_deep(tree, path)
    if deep is not None:
        return ParseResult(None, [deep], complete=False)
    builder = _Builder(path, sink)
    guideline = builder.build(tree, source)
    return ParseResult(guideline, sink.sorted())


_NUMBER_RUN = re.compile(r"[0-9]{%d,}" % (MAX_DIGITS + 1))
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')


def _long_numbers(source: str, path: str) -> list[Diagnostic]:
    """Number literals longer than MAX_DIGITS (outside strings and comments), located."""
    if not _NUMBER_RUN.search(source):
        return []
    code = _STRING_OR_COMMENT.sub(lambda m: " " * len(m.group()), source)
    out = []
    for m in _NUMBER_RUN.finditer(code):
        line = source.count("\n", 0, m.start()) + 1
        column = m.start() - (source.rfind("\n", 0, m.start()) + 1) + 1
        out.append(Diagnostic(
            "E103", "error", f"this number has {len(m.group())} digits; at most {MAX_DIGITS} "
            "are allowed", Span(path, line, column, line, column + min(len(m.group()), 40),
                                m.start(), m.end()),
            "a count, cap or duration this large cannot mean anything in a guideline"))
        if len(out) >= 20:
            break
    return out


def _too_deep(tree: Any, path: str) -> Diagnostic | None:
    """The first parse-tree node nested deeper than MAX_DEPTH, found without recursion."""
    stack = [(tree, 1, tree)]
    while stack:
        node, depth, anchor = stack.pop()
        if depth > MAX_DEPTH:
            meta = anchor.meta  # the clause that holds the deep expression
            line, column = getattr(meta, "line", 1), getattr(meta, "column", 1)
            return Diagnostic("E104", "error", f"this expression is too deeply nested "
                              f"(limit {MAX_DEPTH} levels)", Span(path, line, column, line,
                                                                  column + 1),
                              "split it into named definitions (`define`), each a few levels "
                              "deep")
        for child in node.children:
            if isinstance(child, lark.Tree):
                stack.append((child, depth + 1, child if depth <= 2 else anchor))
    return None


_TOKENS_WITH_HASH = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')


def comments(source: str) -> tuple[ast.Comment, ...]:
    """Every `#` comment, skipping `#` inside strings (the grammar ignores comments)."""
    out = []
    for m in _TOKENS_WITH_HASH.finditer(source):
        if m.group().startswith("#"):
            line = source.count("\n", 0, m.start()) + 1
            column = m.start() - (source.rfind("\n", 0, m.start()) + 1) + 1
            out.append(ast.Comment(line=line, column=column, text=m.group().rstrip()))
    return tuple(out)


def _blank_outside(source: str, start: int, end: int) -> str:
    """Keep source[start:end] in place; blank everything else but newlines (positions stay)."""
    def blank(s: str) -> str:
        return re.sub(r"[^\n]", " ", s)
    return blank(source[:start]) + source[start:end] + blank(source[end:])


def _parse_items(source: str, path: str, sink: Sink, first: Exception) -> ParseResult:
    starts = [m.start() for m in _ITEM_START.finditer(source)]
    lost: set[str] = set()
    bounds = list(zip([0] + starts, starts + [len(source)]))
    trees: list[tuple[str, Any]] = []
    for i, (a, b) in enumerate(bounds):
        if not source[a:b].strip() or (i == 0 and not source[a:b].split("#")[0].strip()
                                        and not re.search(r"^\s*(guideline|declarations)\b", source[a:b], re.M)):
            continue
        start = "header_start" if i == 0 else "item_start"
        try:
            tree = _lark().parse(_blank_outside(source, a, b), start=start)
        except lark.exceptions.UnexpectedInput as exc:
            sink.items.append(_syntax_diagnostic(exc, path, source[:b]))
            m = re.match(r"\s*\w+\s+([a-z_][a-z0-9_]*)", source[a:b])
            if m:
                lost.add(m.group(1))
            continue
        deep = _too_deep(tree, path)
        if deep is not None:
            sink.items.append(deep)
            continue
        trees.append((start, tree))
    if not sink.items:  # the item-wise parse found nothing: report the whole-file error
        sink.items.append(_syntax_diagnostic(first, path, source))
    builder = _Builder(path, sink)
    header = None
    items: list[Any] = []
    for start, tree in trees:
        node = builder.transform(tree).children[0]
        if start == "header_start":
            header = node
        else:
            items.append(node)
    guideline = builder.assemble(header, items, source) if header is not None else None
    return ParseResult(guideline, sink.sorted(), complete=False, lost_names=frozenset(lost))


def _expected_words(expected: set[str]) -> str:
    parser = _lark()
    words = set()
    for name in expected:
        if name in _TERMINAL_WORDS:
            words.add(_TERMINAL_WORDS[name])
            continue
        try:
            term = parser.get_terminal(name)
            words.add(f"'{term.pattern.value}'" if term.pattern.type == "str" else name.lower())
        except KeyError:
            words.add(name.lower())
    # Words (a name, a number ...) before punctuation; keep the list short enough to read.
    ordered = sorted(words, key=lambda w: (w.startswith("'") and not w[1].isalpha(), w))
    if len(ordered) > 6:
        ordered = ordered[:6] + ["..."]
    return ", ".join(ordered)


def _syntax_diagnostic(exc: Exception, path: str, source: str) -> Diagnostic:
    line = getattr(exc, "line", 1) or 1
    column = getattr(exc, "column", 1) or 1
    hint = None
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            message = f"this is incomplete; expected {_expected_words(set(exc.expected))}"
        else:
            message = f"unexpected '{token}'; expected {_expected_words(set(exc.expected))}"
        width = max(1, len(str(token))) if token.type != "$END" else 1
        hint = _hint_for(str(token), set(exc.expected))
        at = getattr(token, "start_pos", None)
        if "CODE" in set(exc.expected) and at is not None and re.match(
                r"[A-Z](\*|[0-9]{2}-[A-Z][0-9]{2})", source[at:at + 12]):
            hint = _CHAPTER_HINT
        if str(token) == "per" and token.line is not None:  # `allow 10 visits per year`
            hint = ("a yearly limit counts only the year's visits: `allow 10 visits` with "
                    "`counting sum history[start in last 12 months].visits`; a weekly rate is "
                    "`allow at most 3 visits per week`")
        if token.type == "$END":  # point just after the last thing written
            lines = source.rstrip().splitlines() or [""]
            while len(lines) > 1 and not lines[-1].split("#")[0].strip():
                lines.pop()
            line, column = len(lines), len(lines[-1].split("#")[0].rstrip()) + 1
    elif isinstance(exc, lark.exceptions.UnexpectedCharacters):
        pos = exc.pos_in_stream or 0
        char = source[pos] if pos < len(source) else "?"
        message = f"unexpected character '{char}'"
        width = 1
        allowed = set(exc.allowed or ())
        if allowed:
            message += f"; expected {_expected_words(allowed)}"
        hint = _hint_for(char, allowed)
        ahead = source[pos:pos + 12]
        if "CODE" in allowed and re.match(r"[A-Z](\*|[0-9]{2}-[A-Z][0-9]{2})", ahead):
            hint = _CHAPTER_HINT
    else:
        message, width = "unexpected end of the file", 1
    span = Span(path, line, column, line, column + width)
    return Diagnostic("E101", "error", message, span, hint)


_CHAPTER_HINT = ("ICD-10 chapters (M*) and ranges (M40-M54) are not written this way: list "
                 "three-character prefixes instead, e.g. icd10 {M40*, M41*, M42*}")


def _hint_for(found: str, expected: set[str], after: str = "") -> str | None:
    if found == "=" and "CMP_OP" in expected:
        return "use '==' to compare two values"
    if found == ":":
        return "rules take keyword clauses (when, must, allow, counting, otherwise, cite), not ':'"
    if re.fullmatch(r"[a-z]\d[\w.]*\*?", found):
        return "ICD-10 codes are written in capitals, e.g. M54.1*"
    if found in {"visits", "weeks", "months"} and "INT" in expected:
        return "quantities start with a number, e.g. 'allow 10 visits over 4 weeks'"
    if re.fullmatch(r"[A-Z][A-Za-z_]*", found):
        return "names are lower-case snake_case words"
    if found.startswith("'"):
        return 'strings use double quotes: "..."'
    return None


def _span(path: str, meta: Any) -> Span:
    if getattr(meta, "empty", True) and not isinstance(meta, Token):
        return Span(path, 0, 0, 0, 0)
    start = getattr(meta, "start_pos", 0) or 0
    end = getattr(meta, "end_pos", 0) or 0
    return Span(path, meta.line, meta.column, meta.end_line, meta.end_column, start, end)


def _unquote(token: Token) -> str:
    body = str(token)[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


@v_args(meta=True)
class _Builder(Transformer):  # type: ignore[type-arg]
    """Turns the Lark tree into AST nodes at once; nothing else touches lark.Tree."""

    def __init__(self, path: str, sink: Sink) -> None:
        super().__init__()
        self.file = path
        self.sink = sink

    def sp(self, meta: Any) -> Span:
        return _span(self.file, meta)

    def tok(self, token: Token) -> Span:
        return _span(self.file, token)

    # ---------------------------------------------------------- file
    def build(self, tree: Any, source: str = "") -> ast.Guideline:
        header, *items = self.transform(tree).children
        return self.assemble(header, items, source)

    def assemble(self, header: ast.Header, items: list[Any], source: str = "") -> ast.Guideline:
        rules, section = [], None
        sections, ordered = [], []
        for item in items:
            if isinstance(item, ast.Section):
                section = item.title
                sections.append(item)
            elif isinstance(item, ast.Rule):
                item = ast.Rule(kind=item.kind, name=item.name, title=item.title,
                                clauses=item.clauses, section=section, span=item.span,
                                name_span=item.name_span)
                rules.append(item)
            ordered.append(item)
        return ast.Guideline(
            items=tuple(ordered), comments=comments(source),
            header=header,
            facts=tuple(i for i in items if isinstance(i, ast.FactDecl)),
            vocabularies=tuple(i for i in items if isinstance(i, ast.Vocabulary)),
            valuesets=tuple(i for i in items if isinstance(i, ast.ValueSet)),
            definitions=tuple(i for i in items if isinstance(i, ast.Definition)),
            sections=tuple(sections),
            rules=tuple(rules),
            tests=tuple(i for i in items if isinstance(i, ast.Test)),
            path=self.file,
        )

    # ---------------------------------------------------------- header
    def header(self, meta: Any, ch: list[Any]) -> ast.Header:
        name, title, *clauses = ch
        fields: dict[str, Any] = {}
        for key, value in clauses:
            if key == "_scope":
                fields["scope"] = fields.get("scope", ()) + (value,)
                continue
            fields.update(value) if key == "_multi" else fields.__setitem__(key, value)
        return ast.Header(id=name, title=_unquote(title), span=self.sp(meta), **fields)

    def declarations(self, meta: Any, ch: list[Any]) -> ast.Header:
        return ast.Header(id=ch[0], title=_unquote(ch[1]), kind="declarations",
                          span=self.sp(meta))

    # ---------------------------------------------------------- declarations
    def fact_decl(self, meta: Any, ch: list[Any]) -> ast.FactDecl:
        path, (kind, category), description = ch
        return ast.FactDecl(path=path, kind=kind, category=category,
                            description=_unquote(description) if description is not None
                            else None, span=self.sp(meta))

    def fact_path(self, meta: Any, ch: list[Any]) -> tuple[str, ...]:
        return tuple(str(t) for t in ch if t is not None)

    def simple_type(self, meta: Any, ch: list[Token]) -> tuple[str, None]:
        return (ast.KIND_OF_WORDS[" ".join(str(t) for t in ch)], None)

    def t_term(self, meta: Any, ch: list[Token]) -> tuple[str, str]:
        return ("term", str(ch[0]))

    def t_terms(self, meta: Any, ch: list[Token]) -> tuple[str, str]:
        return ("terms", str(ch[0]))

    def vocabulary(self, meta: Any, ch: list[Any]) -> ast.Vocabulary:
        name, title, *terms = ch
        return ast.Vocabulary(name=str(name), title=_unquote(title) if title is not None else None,
                              terms=tuple(t for t in terms if t is not None), span=self.sp(meta),
                              name_span=self.tok(name))

    def vocab_term(self, meta: Any, ch: list[Any]) -> ast.VocabTerm:
        name, title, codes = ch
        return ast.VocabTerm(name=str(name), title=_unquote(title) if title is not None else None,
                             codes=tuple(c.strip() for c in _unquote(codes).split(",")
                                         if c.strip()) if codes is not None else (),
                             span=self.sp(meta))

    def dotted_name(self, meta: Any, ch: list[Token]) -> str:
        return ".".join(str(t) for t in ch)

    def version(self, meta: Any, ch: list[Token]) -> tuple[str, Any]:
        return ("version", _unquote(ch[0]))

    def effective(self, meta: Any, ch: list[Token]) -> tuple[str, Any]:
        until = self._date(ch[1]) if ch[1] is not None else None
        return ("_multi", {"effective_from": self._date(ch[0]), "effective_until": until})

    def source(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
        return ("_multi", {"source": _unquote(ch[0]), "source_pages": ch[1]})

    def applies(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
        return ("applies", ch[0])

    def precedence(self, meta: Any, ch: list[Token]) -> tuple[str, Any]:
        return ("precedence", int(ch[0]))

    def scope(self, meta: Any, ch: list[Token]) -> tuple[str, Any]:
        return ("_scope", (str(ch[0]), _unquote(ch[1])))

    def layer(self, meta: Any, ch: list[Token]) -> tuple[str, Any]:
        return ("layer", True)

    def counts(self, meta: Any, ch: list[Token]) -> tuple[str, Any]:
        return ("unit", str(ch[0]))

    def basis(self, meta: Any, ch: list[Token]) -> tuple[str, Any]:
        return ("basis", _unquote(ch[0]))

    def pages(self, meta: Any, ch: list[Any]) -> ast.Pages:
        return ast.Pages(ranges=tuple(ch[1:]), span=self.sp(meta))

    def page_range(self, meta: Any, ch: list[Token]) -> tuple[int, int]:
        first = int(ch[0])
        return (first, int(ch[1]) if ch[1] is not None else first)

    def _date(self, token: Token) -> dt.date:
        try:
            return dt.date.fromisoformat(str(token))
        except ValueError:
            self.sink.error("E102", f"'{token}' is not a valid date", self.tok(token),
                            "dates are written YYYY-MM-DD")
            return dt.date(1970, 1, 1)

    # ---------------------------------------------------------- items
    def valueset(self, meta: Any, ch: list[Any]) -> ast.ValueSet:
        name, title, *parts = ch
        codes: list[str] = []
        terms: list[str] = []
        code_spans: list[Span] = []
        for kind, values in parts:
            target = codes if kind == "codes" else terms
            for token in values:
                target.append(str(token))
                if kind == "codes":
                    code_spans.append(self.tok(token))
        return ast.ValueSet(name=str(name), title=_unquote(title) if title else None,
                            codes=tuple(codes), terms=tuple(terms), span=self.sp(meta),
                            name_span=self.tok(name), code_spans=tuple(code_spans))

    def vs_codes(self, meta: Any, ch: list[Any]) -> tuple[str, list[Token]]:
        return ("codes", [c for c in ch if c is not None])

    def vs_terms(self, meta: Any, ch: list[Any]) -> tuple[str, list[Token]]:
        return ("terms", [c for c in ch if c is not None])

    def definition(self, meta: Any, ch: list[Any]) -> ast.Definition:
        name, title, expr = ch
        return ast.Definition(name=str(name), title=_unquote(title) if title else None,
                              expr=expr, span=self.sp(meta), name_span=self.tok(name))

    def section(self, meta: Any, ch: list[Any]) -> ast.Section:
        cites = ch[1].citations if ch[1] is not None else ()
        return ast.Section(title=_unquote(ch[0]), citations=cites, span=self.sp(meta))

    def rule_kind(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0])

    def rule(self, meta: Any, ch: list[Any]) -> ast.Rule:
        kind, name, title, *clauses = ch
        return ast.Rule(kind=kind, name=str(name), title=_unquote(title) if title else None,
                        clauses=tuple(clauses), span=self.sp(meta), name_span=self.tok(name))

    def _clause(self, keyword: str, meta: Any, **kw: Any) -> ast.Clause:
        return ast.Clause(keyword=keyword, span=self.sp(meta), **kw)

    def when_clause(self, meta: Any, ch: list[Any]) -> ast.Clause:
        return self._clause("when", meta, expr=ch[0])

    def must_clause(self, meta: Any, ch: list[Any]) -> ast.Clause:
        return self._clause("must", meta, expr=ch[0])

    def allow_clause(self, meta: Any, ch: list[Any]) -> ast.Clause:
        return self._clause("allow", meta, quantity=ch[0])

    def extend_clause(self, meta: Any, ch: list[Any]) -> ast.Clause:
        return self._clause("extend", meta, quantity=ch[0], expr=ch[1])

    def extend_open_clause(self, meta: Any, ch: list[Any]) -> ast.Clause:
        return self._clause("extend", meta, expr=ch[0])

    def counting_clause(self, meta: Any, ch: list[Any]) -> ast.Clause:
        return self._clause("counting", meta, expr=ch[0])

    def otherwise_clause(self, meta: Any, ch: list[Token]) -> ast.Clause:
        return self._clause("otherwise", meta, text=_unquote(ch[0]))

    def undocumented_clause(self, meta: Any, ch: list[Token]) -> ast.Clause:
        return self._clause("undocumented", meta, text=_unquote(ch[0]))

    def partial_clause(self, meta: Any, ch: list[Token]) -> ast.Clause:
        return self._clause("partial", meta, text=_unquote(ch[0]))

    def because_clause(self, meta: Any, ch: list[Token]) -> ast.Clause:
        return self._clause("because", meta, text=_unquote(ch[0]))

    def overrides_clause(self, meta: Any, ch: list[Token]) -> ast.Clause:
        return self._clause("overrides", meta, names=tuple(str(t) for t in ch))

    def cite_clause(self, meta: Any, ch: list[ast.Citation]) -> ast.Clause:
        return self._clause("cite", meta, citations=tuple(ch))

    def cite_pages(self, meta: Any, ch: list[Any]) -> ast.Citation:
        return ast.Citation(document=None, pages=ch[0], span=self.sp(meta))

    def cite_text(self, meta: Any, ch: list[Any]) -> ast.Citation:
        return ast.Citation(document=_unquote(ch[0]), pages=ch[1], span=self.sp(meta))

    def cite_section(self, meta: Any, ch: list[Any]) -> ast.Citation:
        return ast.Citation(document=_unquote(ch[0]) if ch[0] is not None else None, pages=None,
                            section=str(ch[1]), span=self.sp(meta))

    def quantity(self, meta: Any, ch: list[Any]) -> ast.Quantity:
        if len(ch) == 1:  # rate only
            return ast.Quantity(amount=None, unit=None, span=self.sp(meta), **ch[0])
        amount, unit, over, over_unit, rate = ch
        return ast.Quantity(amount=int(amount), unit=str(unit),
                            over=int(over) if over is not None else None,
                            over_unit=str(over_unit) if over_unit is not None else None,
                            span=self.sp(meta), **(rate or {}))

    def computed_quantity(self, meta: Any, ch: list[Any]) -> ast.Quantity:
        amount, unit, over, over_unit, rate = ch
        return ast.Quantity(amount=None, amount_expr=amount, unit=str(unit),
                            over=int(over) if over is not None else None,
                            over_unit=str(over_unit) if over_unit is not None else None,
                            span=self.sp(meta), **(rate or {}))

    def rate(self, meta: Any, ch: list[Token]) -> dict[str, Any]:
        return {"per_week": int(ch[0]), "rate_unit": str(ch[1]), "rate_per": str(ch[2])}

    # ---------------------------------------------------------- tests
    def test(self, meta: Any, ch: list[Any]) -> ast.Test:
        title, source, expect = ch
        kind, a, b = source
        return ast.Test(title=_unquote(title), case_file=a if kind == "case" else None,
                        request_id=b if kind == "case" else None,
                        given=a if kind == "given" else None, expect=expect, span=self.sp(meta))

    def test_case_file(self, meta: Any, ch: list[Any]) -> tuple[str, Any, Any]:
        return ("case", _unquote(ch[0]), _unquote(ch[1]) if ch[1] is not None else None)

    def test_given(self, meta: Any, ch: list[Any]) -> tuple[str, Any, Any]:
        return ("given", ch[0], None)

    def decision(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0])

    def expect_clause(self, meta: Any, ch: list[Any]) -> ast.Expectation:
        decision, quantity, *reasons = ch
        names = tuple(str(r) for r in reasons if r is not None)
        return ast.Expectation(decision=decision,
                               quantity=int(quantity) if quantity is not None else None,
                               reasons=names if names else None, span=self.sp(meta))

    def expect_not_applicable(self, meta: Any, ch: list[Any]) -> ast.Expectation:
        return ast.Expectation(decision=None, quantity=None, reasons=None, span=self.sp(meta))

    def object(self, meta: Any, ch: list[Any]) -> dict[str, Any]:
        return dict(p for p in ch if p is not None)

    def pair(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
        return (str(ch[0]), ch[1])

    def array(self, meta: Any, ch: list[Any]) -> list[Any]:
        return [c for c in ch if c is not None] if ch != [None] else []

    def v_string(self, meta: Any, ch: list[Token]) -> str:
        return _unquote(ch[0])

    def v_int(self, meta: Any, ch: list[Token]) -> int:
        return int(ch[0])

    def v_date(self, meta: Any, ch: list[Token]) -> dt.date:
        return self._date(ch[0])

    def v_code(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0])

    def v_name(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0])

    def v_true(self, meta: Any, ch: list[Any]) -> bool:
        return True

    def v_false(self, meta: Any, ch: list[Any]) -> bool:
        return False

    def v_null(self, meta: Any, ch: list[Any]) -> None:
        return None

    # ---------------------------------------------------------- expressions
    def _bin(self, op: str, meta: Any, ch: list[Any]) -> ast.Binary:
        return ast.Binary(op=op, left=ch[0], right=ch[-1], span=self.sp(meta))

    def or_op(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return self._bin("or", meta, ch)

    def and_op(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return self._bin("and", meta, ch)

    def not_op(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.Unary(op="not", operand=ch[0], span=self.sp(meta))

    def compare(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.Binary(op=str(ch[1]), left=ch[0], right=ch[2], span=self.sp(meta))

    def in_op(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return self._bin("in", meta, ch)

    def not_in_op(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return self._bin("not in", meta, ch)

    def documented(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.Unary(op="documented", operand=ch[0], span=self.sp(meta))

    def not_documented(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.Unary(op="not_documented", operand=ch[0], span=self.sp(meta))

    def within_after(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.WithinAfter(duration=ch[0], anchor=ch[1], span=self.sp(meta))

    def cond(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.Cond(cond=ch[0], then=ch[1], otherwise=ch[2], span=self.sp(meta))

    def in_calendar_year(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.CalendarYear(subject=ch[0], of=ch[1], span=self.sp(meta))

    def in_last(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.InLast(subject=ch[0], duration=ch[1], span=self.sp(meta))

    def add(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return self._bin("+", meta, ch)

    def sub(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return self._bin("-", meta, ch)

    def mul(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return self._bin("*", meta, ch)

    def neg(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.Unary(op="neg", operand=ch[0], span=self.sp(meta))

    def group(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.Group(inner=ch[0], span=self.sp(meta))

    def dec_lit(self, meta: Any, ch: list[Token]) -> ast.Expr:
        return ast.NumberLit(value=float(str(ch[0])), text=str(ch[0]), span=self.tok(ch[0]))

    def pct_lit(self, meta: Any, ch: list[Token]) -> ast.Expr:
        text = str(ch[0])
        return ast.NumberLit(value=float(text[:-1]), text=text, percent=True,
                             span=self.tok(ch[0]))

    def v_decimal(self, meta: Any, ch: list[Token]) -> float:
        return float(str(ch[0]))

    def int_lit(self, meta: Any, ch: list[Token]) -> ast.Expr:
        return ast.IntLit(value=int(ch[0]), span=self.tok(ch[0]))

    def date_lit(self, meta: Any, ch: list[Token]) -> ast.Expr:
        return ast.DateLit(value=self._date(ch[0]), span=self.tok(ch[0]))

    def true_lit(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.BoolLit(value=True, span=self.sp(meta))

    def false_lit(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.BoolLit(value=False, span=self.sp(meta))

    def duration(self, meta: Any, ch: list[Token]) -> ast.Duration:
        return ast.Duration(amount=int(ch[0]), unit=str(ch[1]), span=self.sp(meta),
                            unit_span=self.tok(ch[1]))

    def set_lit(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.SetLit(terms=tuple(str(t) for t in ch if t is not None), span=self.sp(meta))

    def path(self, meta: Any, ch: list[Any]) -> ast.Path:
        names = tuple(str(t) for t in ch if isinstance(t, Token))
        filt = next((c for c in ch if isinstance(c, ast.Expr)), None)
        return ast.Path(names=names, filter=filt, span=self.sp(meta))

    def filter(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ch[0]  # type: ignore[no-any-return]

    def aggregate_kind(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0])

    def aggregate(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.Aggregate(kind=ch[0], path=ch[1], span=self.sp(meta))

    def any_request_diagnosis(self, meta: Any, ch: list[Token]) -> ast.Expr:
        return ast.AnyDiagnosis(valueset=str(ch[0]), request=True, span=self.sp(meta),
                                name_span=self.tok(ch[0]))

    def any_diagnosis(self, meta: Any, ch: list[Token]) -> ast.Expr:
        return ast.AnyDiagnosis(valueset=str(ch[0]), span=self.sp(meta), name_span=self.tok(ch[0]))

    def func(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0])

    def call(self, meta: Any, ch: list[Any]) -> ast.Expr:
        return ast.Call(func=ch[0], args=tuple(ch[1:]), span=self.sp(meta))
