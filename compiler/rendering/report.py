"""Diagnostics → the formats CI systems read: GitHub workflow commands and SARIF 2.1.0."""

from __future__ import annotations

import os
from typing import Any, Iterable

from ...dsl.diagnostics import Diagnostic

SARIF_SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                "sarif-schema-2.1.0.json")

# Every stable code guidec reports, with what it means.
CODES: dict[str, str] = {
    "E001": "the file cannot be read",
    "E101": "syntax error",
    "E102": "invalid date",
    "E103": "a number literal with too many digits",
    "E104": "an expression nested too deeply",
    "E105": "a file over the size limit",
    "E201": "unknown fact or field",
    "E202": "unknown name",
    "E203": "the guideline does not say what it applies to",
    "E204": "a name is defined twice",
    "E205": "unknown vocabulary term",
    "E206": "a definition refers to itself",
    "E207": "unknown placeholder in reason text",
    "E208": "a rule overrides an unknown rule",
    "E209": "a rule overrides itself",
    "E210": "a test expects a reason from an unknown rule",
    "E301": "invalid ICD-10-CM code",
    "E302": "a value set mixes codes and terms",
    "E303": "unknown unit",
    "E304": "a non-certification certifies 0",
    "E305": "type error",
    "E306": "a list used where one value is needed",
    "E401": "a clause that does not belong in this kind of rule",
    "E402": "a clause given twice",
    "E403": "a required clause is missing",
    "E404": "a rule without a citation",
    "W201": "a definition is never used",
    "W202": "a value set is never used",
    "W302": "a rule whose `when` is always false",
    "W303": "a rule always overridden by an exception that always applies",
    "W401": "a rule that can never apply (proved by the solver)",
    "W402": "an exception shadows its rule completely",
    "W403": "a rule that adds nothing to another rule",
    "W410": "two limits with different caps apply to the same facts",
    "W420": "a gap: facts the guideline applies to for which no rule applies",
    "W430": "two value sets overlap",
    "W431": "a value set lists overlapping codes",
    "W440": "two guidelines apply to the same request at the same precedence",
    "N001": "a solver check gave up within its time limit",
    "T001": "a guideline test failed",
    "C001": "a rule no test reaches",
}


def _uri(path: str) -> str:
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return rel.replace(os.sep, "/")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github(diags: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands: one annotation per finding."""
    lines = []
    for d in diags:
        level = {"error": "error", "warning": "warning"}.get(d.severity, "notice")
        s = d.span
        props = [f"file={_escape_property(_uri(s.file))}"]
        if s.line > 0:
            props += [f"line={s.line}", f"col={s.column}", f"endLine={s.end_line}",
                      f"endColumn={s.end_column}"]
        props.append(f"title={_escape_property('guidec ' + d.code)}")
        message = d.message + (f" (hint: {d.hint})" if d.hint else "")
        lines.append(f"::{level} {','.join(props)}::{_escape_data(message)}")
    return "\n".join(lines)


def _region(span: Any) -> dict[str, int]:
    line = max(1, span.line)
    end_line = max(line, span.end_line)
    column = max(1, span.column)
    end_column = span.end_column if end_line > line else max(column + 1, span.end_column)
    return {"startLine": line, "startColumn": column, "endLine": end_line,
            "endColumn": end_column}


def _location(span: Any, message: str | None = None) -> dict[str, Any]:
    loc: dict[str, Any] = {"physicalLocation": {
        "artifactLocation": {"uri": _uri(span.file)}, "region": _region(span)}}
    if message:
        loc["message"] = {"text": message}
    return loc


def sarif(diags: list[Diagnostic], version: str) -> dict[str, Any]:
    """A SARIF 2.1.0 log with one run of guidec."""
    used = sorted({d.code for d in diags})
    rules = [{"id": code, "name": code,
              "shortDescription": {"text": CODES.get(code, code)},
              "defaultConfiguration": {"level": _level(code)}} for code in used]
    index = {code: i for i, code in enumerate(used)}
    results = []
    for d in diags:
        result: dict[str, Any] = {
            "ruleId": d.code, "ruleIndex": index[d.code], "level": _sarif_level(d.severity),
            "message": {"text": d.message + (f" Hint: {d.hint}" if d.hint else "")},
            "locations": [_location(d.span)],
        }
        if d.notes:
            result["relatedLocations"] = [dict(_location(s, m), id=i)
                                          for i, (m, s) in enumerate(d.notes)]
        if d.witness is not None:
            result["properties"] = {"witness": d.witness}
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "guidec", "version": version,
                                "informationUri": "https://github.com/guidec/guidec",
                                "rules": rules}},
            "results": results,
            "columnKind": "unicodeCodePoints",
        }],
    }


def _level(code: str) -> str:
    return {"E": "error", "W": "warning", "T": "error"}.get(code[0], "note")


def _sarif_level(severity: str) -> str:
    return {"error": "error", "warning": "warning"}.get(severity, "note")
