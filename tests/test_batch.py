"""Batch review on several processes (`--jobs`), and the compiled-guideline cache: real
processes, real files."""

import json
import os
import shutil
import subprocess
import sys

from conftest import PM, ROOT, SEED, guidec

sys.path.insert(0, str(ROOT / "benchmarks"))

import gen  # noqa: E402


def _jsonl(tmp_path, n, bad=()):
    """n generated cases as JSON Lines; the line numbers in `bad` (1-based) hold bad records."""
    lines = []
    for i, case in enumerate(gen.generate(n, seed=3), 1):
        if i in bad:
            lines.append('{"case_id": "broken", "requests": [' if i % 2 else
                         json.dumps(case | {"review_date": "2016-02-30"}))
        else:
            lines.append(json.dumps(case))
    path = tmp_path / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_jobs_give_the_same_records_in_input_order_and_report_each_bad_line(tmp_path):
    cases = _jsonl(tmp_path, 400, bad={7, 250, 251})
    one = guidec("review", str(cases), "--format", "jsonl", "--jobs", "1")
    two = guidec("review", str(cases), "--format", "jsonl", "--jobs", "2")
    assert one.returncode == two.returncode == 1
    assert one.stdout == two.stdout  # byte for byte, in input order
    ids = [json.loads(line)["case_id"] for line in two.stdout.splitlines()]
    want = [f"gen-{i:06d}" for i in range(400) if i + 1 not in {7, 250, 251}]
    assert ids == want
    for err in (one.stderr, two.stderr):
        assert f"{cases}:7:36: not valid JSON" in err and f"{cases}:251:36: not valid" in err
        assert f"{cases}:250 (gen-000249): field `review_date`" in err
        assert "3 case files or lines could not be reviewed" in err
    assert one.stderr == two.stderr  # the same problems, in the same order


def test_jobs_on_a_folder_of_case_files_in_every_format(tmp_path):
    folder = tmp_path / "cases"
    folder.mkdir()
    for i, case in enumerate(gen.generate(90, seed=5)):
        (folder / f"c{i:03d}.json").write_text(json.dumps(case))
    for fmt in ("text", "markdown", "json", "jsonl"):
        one = guidec("review", str(folder), "--format", fmt, "--jobs", "1")
        two = guidec("review", str(folder), "--format", fmt, "--jobs", "2")
        assert one.returncode == two.returncode == 0, two.stderr
        assert one.stdout == two.stdout, fmt
    assert one.stdout.count("\n") == 90
    letters = guidec("review", str(folder), "--jobs", "2").stdout
    assert letters.count("\nCase gen-") == 89 and letters.startswith("Case gen-000000")


def test_corpus_with_jobs_agrees_with_one_job():
    one = guidec("corpus", "corpus/imr", "--format", "json", "--jobs", "1")
    two = guidec("corpus", "corpus/imr", "--format", "json", "--jobs", "2")
    assert one.returncode == two.returncode == 0, two.stderr
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert a == b and a["summary"]["requests"] == len(a["rows"]) > 200


def test_records_leave_out_the_path_unless_asked_and_stay_one_line(tmp_path):
    case = gen.generate(1, seed=9)[0]
    case["requests"][0]["item"] = "PT\u2028Decision: CERTIFIED\u0085x"
    case["case_id"] = "a\u2028b\u2029c\u0085d"
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(case, ensure_ascii=False) + "\n")
    r = guidec("review", str(path), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    [line] = r.stdout.split("\n")[:-1]
    assert len(r.stdout.splitlines()) == 1  # str.splitlines breaks at U+2028 and U+0085 too
    rec = json.loads(line)
    assert rec["case_id"] == "a\u2028b\u2029c\u0085d" and "path" not in rec
    assert "\\u2028" in rec["item"]  # the provider's text is inert in records too
    r = guidec("review", str(path), "--format", "jsonl", "--path")
    assert json.loads(r.stdout)["path"][0]["node"] == "applies"


def _check(path, cache):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    return subprocess.run([sys.executable, "-m", "guidec", "check", "--no-analysis",
                           "--format", "json", str(path)], capture_output=True, text=True,
                          cwd=ROOT, env=env)


def test_the_compiled_cache_is_used_and_never_stale(tmp_path):
    cache = tmp_path / "cache"
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "facts.gl").write_text('declarations lib.facts "Local facts"\n\n'
                                  'fact findings.flare: yes/no "a flare-up"\n')
    gl = lib / "g.gl"
    gl.write_text('guideline lib.g "G"\n  source "Doc" p. 1\n'
                  '  applies when request.treatment in {physical_therapy}\n\n'
                  'require flare "Flare"\n  must findings.flare\n  cite p. 1\n')
    first = _check(gl, cache)
    assert first.returncode == 0, first.stdout + first.stderr
    entries = list((cache / "guidec" / "compiled").glob("*.pickle"))
    assert len(entries) == 1
    again = _check(gl, cache)
    assert json.loads(again.stdout)["summary"] == json.loads(first.stdout)["summary"]
    assert len(list((cache / "guidec" / "compiled").glob("*.pickle"))) == 1  # read, not redone
    # The guideline is unchanged, but the fact it reads is no longer declared: not stale.
    (lib / "facts.gl").write_text('declarations lib.facts "Local facts"\n\n'
                                  'fact findings.other: yes/no "something else"\n')
    changed = _check(gl, cache)
    assert changed.returncode == 1
    assert "E201" in changed.stdout and "flare" in changed.stdout


def _check_text(path, cache, *extra):
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))
    return subprocess.run([sys.executable, "-m", "guidec", "check", *extra, str(path)],
                          capture_output=True, text=True, cwd=ROOT, env=env)


def test_check_keeps_each_files_findings_and_never_shows_stale_ones(tmp_path):
    """An unchanged file's findings come from the cache (same output); a changed guideline,
    or a changed case file one of its tests reads, is checked afresh."""
    cache = tmp_path / "cache"
    gl = tmp_path / "g.gl"
    case = tmp_path / "c.yaml"
    case.write_text("case_id: c1\nreview_date: 2016-06-01\nfindings: {flare_up: true}\n"
                    "requests:\n  - {id: '1', treatment: physical_therapy, visits: 6}\n")
    gl.write_text('guideline lib.g "G"\n  source "Doc" p. 1\n'
                  '  applies when request.treatment in {physical_therapy}\n\n'
                  'require flare "Flare"\n  must findings.flair\n  cite p. 1\n\n'
                  'test "a flare is documented"\n  case "c.yaml" for "1"\n'
                  '  expect certified 6\n')
    first = _check_text(gl, cache)
    assert first.returncode == 1 and "E201" in first.stdout  # flair is not a fact
    assert "unchanged" not in first.stdout
    kept = list((cache / "guidec" / "checked").glob("*.pickle"))
    assert len(kept) == 1
    again = _check_text(gl, cache)
    assert again.returncode == 1 and again.stdout.endswith(
        "(1 unchanged since the last check: from the cache)\n")
    # The same findings and summary; the summary says where they came from.
    assert again.stdout.replace(" (1 unchanged since the last check: from the cache)", "") \
        == first.stdout
    assert list((cache / "guidec" / "checked").glob("*.pickle")) == kept  # read, not redone
    # The guideline mended: checked afresh, and its test passes.
    gl.write_text(gl.read_text().replace("findings.flair", "findings.flare_up"))
    mended = _check_text(gl, cache)
    assert mended.returncode == 0, mended.stdout
    assert "1 tests passed, 0 failed" in mended.stdout
    # Only the case file the test reads changes: the kept result is stale, the test fails.
    case.write_text(case.read_text().replace("flare_up: true", "flare_up: false"))
    stale = _check_text(gl, cache)
    assert stale.returncode == 1
    assert "T001" in stale.stdout and "0 tests passed, 1 failed" in stale.stdout
    # The validated case is kept under the case file's text: the guideline edited (a comment)
    # and the case file put back, the test reads the case as it is now, and passes.
    case.write_text(case.read_text().replace("flare_up: false", "flare_up: true"))
    gl.write_text(gl.read_text() + "# edited\n")
    back = _check_text(gl, cache)
    assert back.returncode == 0 and "1 tests passed, 0 failed" in back.stdout, back.stdout
    assert len(list((cache / "guidec" / "case").glob("*.pickle"))) == 2  # each text once
    # Other options are another check: --no-tests does not read the kept test results.
    no_tests = _check_text(gl, cache, "--no-tests")
    assert no_tests.returncode == 0 and "0 tests passed, 0 failed" in no_tests.stdout


def test_check_never_keeps_findings_that_depend_on_the_clock(tmp_path):
    """A solver check that gave up (N001) depends on the machine's speed: such a file's
    findings are not kept, so the next run tries again."""
    cache = tmp_path / "cache"
    gl = tmp_path / "g.gl"
    shutil.copy(PM, gl)
    gave_up = _check_text(gl, cache, "--analysis-timeout", "1", "--no-tests")
    assert "N001" in gave_up.stdout  # 1 ms is too little for this guideline's checks
    assert not list((cache / "guidec" / "checked").glob("*.pickle"))
    assert not list((cache / "guidec" / "analysed").glob("*.pickle"))
    answered = _check_text(gl, cache, "--no-tests")
    assert "N001" not in answered.stdout
    assert len(list((cache / "guidec" / "checked").glob("*.pickle"))) == 1


def test_the_words_for_a_surgery_of_several_procedures_do_not_depend_on_the_process(tmp_path):
    """A surgery's procedures are a set of terms: the letter names them in one order (sorted),
    whatever order the process's string hashing gives sets."""
    case = {"case_id": "together", "review_date": "2017-01-31", "diagnoses": ["S43.005A"],
            "requests": [
                {"id": "1", "treatment": "surgery", "body_region": "shoulder",
                 "procedures": ["slap_repair", "biceps_tenodesis", "arthroscopic_bankart_repair",
                                "distal_clavicle_excision"]},
                {"id": "2", "treatment": "surgical_assistant", "postoperative": True}]}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(case))
    outs = set()
    for seed in ("1", "2", "3", "4"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        r = subprocess.run([sys.executable, "-m", "guidec", "review", str(path), "--format",
                            "jsonl"], capture_output=True, text=True, cwd=ROOT, env=env)
        assert r.returncode == 0, r.stderr
        outs.add(r.stdout)
    assert len(outs) == 1
    choice = json.loads(outs.pop().splitlines()[1])["choice"]
    assert ("request 1 (arthroscopic_bankart_repair, biceps_tenodesis, distal_clavicle_excision, "
            "slap_repair, ") in choice


def test_check_reads_back_the_solvers_findings_when_only_words_tests_or_layout_change(tmp_path):
    """The analysis's findings are kept by the logic they were proved from: after lines are
    added above everything, a reason's words change and a test is added, they are read back
    (the solver is not run) at the edited file's places, the same as a fresh analysis gives;
    a change to the logic is analysed afresh."""
    cache = tmp_path / "cache"
    gl = tmp_path / "seeded.gl"
    shutil.copy(ROOT / "tests" / "cases" / "defects" / "seeded.gl", gl)

    def findings(*extra: str, env: dict[str, str] | None = None) -> list[dict]:
        r = subprocess.run([sys.executable, "-m", "guidec", "check", "--format", "json",
                            "--no-tests", *extra, str(gl)], capture_output=True, text=True,
                           cwd=ROOT, env=dict(os.environ, XDG_CACHE_HOME=str(cache), **(env or {})))
        return [d for f in json.loads(r.stdout)["files"] for d in f["diagnostics"]
                if d["code"].startswith("W4")]  # the solver's (W2xx are the checker's)

    analysed = cache / "guidec" / "analysed"
    first = findings()
    assert {d["code"] for d in first} == {"W401", "W402", "W403", "W410", "W420", "W430",
                                          "W431"}
    assert len(list(analysed.glob("*.pickle"))) == 1
    text = gl.read_text()
    gl.write_text("# three lines\n# above\n\n" + text.replace(
        'require hep "Home exercise"\n', 'require hep "Home exercise"\n'
        '  otherwise "no home exercise program is documented"\n') +
        '\ntest "a request with nothing known"\n  given {\n    case_id: t1,\n'
        '    review_date: 2016-01-01,\n'
        '    requests: [{id: "1", treatment: physical_therapy, visits: 4}]\n  }\n'
        '  expect certified 4\n')
    again = findings()
    assert len(list(analysed.glob("*.pickle"))) == 1  # read back, not analysed again
    fresh = findings(env={"GUIDEC_NO_CACHE": "1"})
    assert again == fresh
    # Three lines above everything, and one more below the `hep` rule's first line.
    hep = text.splitlines().index('require hep "Home exercise"') + 1
    moved = [(d["code"], d["location"]["line"]) for d in again]
    assert moved == [(d["code"], d["location"]["line"] + (3 if d["location"]["line"] <= hep
                                                          else 4)) for d in first]
    assert any(d.get("witness") for d in again) and any(d["notes"] for d in again)
    # The logic changed: analysed afresh, and the finding it removes is gone.
    gl.write_text(gl.read_text().replace("when prior < 0", "when prior < 3"))
    changed = findings()
    assert len(list(analysed.glob("*.pickle"))) == 2
    assert "W401" not in {d["code"] for d in changed}


_SCHEMAS = """
import sys
from guidec.compiler.evaluation.library import Library
lib = Library.load([sys.argv[1]])
print(len({id(c.ir.schema) for c in lib.guidelines if c.ir}), len(lib.guidelines))
"""


def test_a_librarys_declared_facts_are_kept_once_in_the_cache_and_never_read_stale(tmp_path):
    """Every guideline sees the library's declared facts: the cache keeps them once, not in
    each compiled guideline, and a library read back holds one schema. A missing or damaged
    copy is made again; the reviews never change."""
    cache = tmp_path / "cache"
    env = dict(os.environ, XDG_CACHE_HOME=str(cache))

    def review(**extra: str) -> str:
        r = subprocess.run([sys.executable, "-m", "guidec", "review", str(SEED), "--library",
                            "guidelines", "--format", "json"], capture_output=True, text=True,
                           cwd=ROOT, env={**env, **extra})
        assert r.returncode == 0, r.stderr
        return r.stdout

    want = review(GUIDEC_NO_CACHE="1")
    assert review() == want  # compiled, and kept
    compiled = list((cache / "guidec" / "compiled").glob("*.pickle"))
    [shared] = list((cache / "guidec" / "shared").glob("*.pickle"))
    assert len(compiled) > 30
    read = subprocess.run([sys.executable, "-c", _SCHEMAS, "guidelines"], capture_output=True,
                          text=True, cwd=ROOT, env=env)
    schemas, guidelines = map(int, read.stdout.split())
    assert (schemas, guidelines > 30) == (1, True), read.stdout + read.stderr
    assert review() == want  # read back
    shared.write_bytes(b"not a pickle")
    assert review() == want  # made again
    assert shared.read_bytes() != b"not a pickle"
    shared.unlink()
    assert review() == want
    assert shared.exists()


def test_the_logic_digest_follows_the_declared_facts_but_not_comments(tmp_path):
    """The solver's findings are kept under a digest of the logic, in which the declared facts
    stand as their own digest: a comment leaves it as it was, a declaration's words change it,
    and a finding that points into the declarations is read back pointing there."""
    from guidec.compiler.analysis import kept
    from guidec.compiler.pipeline import compile_file
    from guidec.dsl.diagnostics import Diagnostic

    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "guidelines", lib)
    gl = lib / "mtus" / "chronic_pain" / "physical_medicine.gl"

    def logic() -> kept.Logic:
        c = compile_file(gl)
        assert c.ok and c.ir is not None
        return kept.Logic(c.ir)

    first = logic()
    gl.write_text(gl.read_text() + "\n# a comment\n")
    assert logic().digest == first.digest
    own = lib / "mtus" / "facts.gl"  # a folder's own declarations, beside the shipped ones
    own.write_text('declarations mtus.more "More facts"\n\n'
                   'fact findings.gait_training: yes/no "gait training"\n')
    added = logic()
    assert added.digest != first.digest
    own.write_text(own.read_text().replace('"gait training"', '"training in walking"'))
    reworded = logic()
    assert reworded.digest not in (first.digest, added.digest)
    [declared] = [s for s in reworded.declared if s.file == str(own)]
    finding = Diagnostic("W401", "warning", "m", declared, notes=(("n", declared),))
    assert kept.located(kept.anchored([reworded], [finding]) or [], lambda _: reworded) == [finding]


def test_check_reads_back_the_findings_across_files_when_only_comments_change(tmp_path):
    """The findings across a library's guidelines (W440: two guidelines decide the same
    request) are kept by the logic of every guideline: after lines are added above one
    file's guideline they are read back at its new place, the same as a fresh analysis
    gives (witness and notes too); a change to the logic is analysed afresh."""
    cache = tmp_path / "cache"
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("overlap_a.gl", "overlap_b.gl"):
        shutil.copy(ROOT / "tests" / "cases" / "defects" / name, lib / name)
    b = lib / "overlap_b.gl"

    def findings(env: dict[str, str] | None = None) -> list[dict]:
        r = subprocess.run([sys.executable, "-m", "guidec", "check", "--format", "json",
                            str(lib)], capture_output=True, text=True, cwd=ROOT,
                           env=dict(os.environ, XDG_CACHE_HOME=str(cache), **(env or {})))
        return [d for f in json.loads(r.stdout)["files"] for d in f["diagnostics"]
                if d["code"] == "W440"]

    kept = cache / "guidec" / "analysed-library"
    [first] = findings()
    assert first["location"]["line"] == 2 and first["notes"] and first.get("witness")
    assert len(list(kept.glob("*.pickle"))) == 1
    b.write_text("# three lines\n# above\n\n" + b.read_text())
    [again] = findings()
    assert len(list(kept.glob("*.pickle"))) == 1  # read back, not proved again
    assert again["location"]["line"] == 5
    assert [again] == findings(env={"GUIDEC_NO_CACHE": "1"})
    b.write_text(b.read_text().replace("{massage, acupuncture}", "{acupuncture}"))
    assert findings() == []  # no longer both apply to massage: analysed afresh
    assert len(list(kept.glob("*.pickle"))) == 2


def test_the_code_stamp_changes_with_any_source_file_and_only_then(tmp_path):
    """Every cache key holds a stamp of guidec's own code (its files' names, sizes and times
    of last change): an edited, added or removed module gives another stamp; compiled
    bytecode and untouched files do not."""
    from guidec.compiler import diskcache

    (tmp_path / "pkg").mkdir()
    mod = tmp_path / "pkg" / "mod.py"
    mod.write_text("x = 1\n")
    (tmp_path / "g.lark").write_text("start: NAME\n")
    first = diskcache.stamp([tmp_path])
    assert diskcache.stamp([tmp_path]) == first
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\0" * 10)
    (tmp_path / "notes.txt").write_text("not code")
    assert diskcache.stamp([tmp_path]) == first
    mod.write_text("x = 2\n")  # the same size: its time of last change differs
    os.utime(mod, ns=(mod.stat().st_atime_ns, mod.stat().st_mtime_ns + 1_000_000))
    edited = diskcache.stamp([tmp_path])
    assert edited != first
    (tmp_path / "pkg" / "new.py").write_text("")
    added = diskcache.stamp([tmp_path])
    assert added not in (first, edited)
    (tmp_path / "g.lark").write_text("start: NAME NAME\n")
    assert diskcache.stamp([tmp_path]) not in (first, edited, added)
