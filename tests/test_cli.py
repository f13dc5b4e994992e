"""The `guidec` command as a user runs it: real processes, real files, exit codes."""

import json
import shutil
import sys

from conftest import PM, ROOT, SEED, guidec

sys.path.insert(0, str(ROOT / "benchmarks"))


def test_check_library_is_clean():
    r = guidec("check", "guidelines/")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 errors" in r.stdout and "0 failed" in r.stdout


def test_broken_copy_gives_one_located_message_per_error(tmp_path):
    text = PM.read_text()
    text = text.replace("  when not had_prior_course\n", "  when had_prior_course = 0\n", 1)
    text = text.replace("must findings.home_exercise_program", "must findings.home_exersise_program")
    text = text.replace("must prior_count_documented", "must prior_visits + 1")
    bad = tmp_path / "bad.gl"
    bad.write_text(text)
    r = guidec("check", str(bad))
    assert r.returncode == 1
    assert "Traceback" not in r.stdout + r.stderr
    errors = [line for line in r.stdout.splitlines() if ": error[" in line]
    assert len(errors) == 3, r.stdout
    syntax, typ, name = errors
    assert syntax.startswith(f"{bad}:") and "error[E101]" in syntax and "'='" in syntax
    assert "error[E305]" in typ and "yes/no" in typ
    assert "error[E201]" in name and "home_exersise_program" in name
    assert "did you mean 'home_exercise_program'?" in r.stdout
    assert "^" in r.stdout


def test_check_json_format(tmp_path):
    bad = tmp_path / "b.gl"
    bad.write_text('guideline b "B"\n  applies when request.treatment in {physical_therapy}\n'
                   'require r must findings.flare_upp cite p. 1\n')
    r = guidec("check", str(bad), "--format", "json")
    assert r.returncode == 1
    data = json.loads(r.stdout)
    [d] = data["files"][0]["diagnostics"]
    assert d["code"] == "E201" and d["location"]["line"] == 3 and d["hint"]


def test_review_seed_text_reads_like_a_letter():
    r = guidec("review", str(SEED), "--library", "guidelines")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "NON-CERTIFIED" in out and "0 of 12 visits" in out and "upheld" in out
    assert out.count("[MTUS Chronic Pain Medical Treatment Guidelines, pp. 98-99]") == 3
    assert "Rationale:" in out


def test_review_seed_json():
    r = guidec("review", str(SEED), "--library", "guidelines", "--format", "json")
    assert r.returncode == 0, r.stderr
    [rec] = json.loads(r.stdout)
    assert rec["case_id"] == "imr-seed-pt-cervical" and rec["request"] == "1"
    assert rec["decision"] == "non_certified" and rec["certified_visits"] == 0
    assert rec["x12_action"] == "A3" and rec["outcome"] == "upheld"
    assert len(rec["reasons"]) == 3
    assert all(x["citation"].endswith("pp. 98-99") and x["text"] for x in rec["reasons"])
    assert "path" not in rec  # the steps through the graph only where asked
    r = guidec("review", str(SEED), "--library", "guidelines", "--format", "json", "--path")
    [rec] = json.loads(r.stdout)
    assert rec["path"][0]["node"] == "applies"
    assert rec["path"][-1]["node"] == "outcome:non_certified"


def test_review_markdown():
    r = guidec("review", str(SEED), "--library", "guidelines", "--format", "markdown")
    assert r.returncode == 0
    assert r.stdout.startswith("# Case imr-seed-pt-cervical") and "### Reasons" in r.stdout


def test_review_jsonl_many_cases(tmp_path):
    import gen
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in gen.generate(500)))
    r = guidec("review", str(path), "--library", "guidelines", "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 500
    decisions = {json.loads(x)["decision"] for x in lines}
    assert decisions == {"certified", "modified", "non_certified"}
    assert r.stderr == ""  # no progress bar in a pipe


def test_broken_case_file_names_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SEED.read_text().replace("visits: 24", "visits: lots"))
    r = guidec("review", str(bad), "--library", "guidelines")
    assert r.returncode == 1
    assert "history[0].visits" in r.stderr and '"lots"' in r.stderr
    assert "Traceback" not in r.stderr


def test_request_no_guideline_covers(tmp_path):
    c = tmp_path / "c.yaml"
    c.write_text("case_id: x\nreview_date: 2016-01-01\nrequests:\n"
                 "  - {id: '1', treatment: inpatient_rehabilitation, days: 7}\n")
    r = guidec("review", str(c), "--library", "guidelines", "--format", "json")
    assert r.returncode == 0
    [rec] = json.loads(r.stdout)
    assert rec["decision"] == "not_applicable" and rec["guideline"] is None


def test_library_with_errors_is_refused(tmp_path):
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "guidelines", lib)
    (lib / "broken.gl").write_text('guideline x "X"\n  applies when request.visits in {a}\n')
    r = guidec("review", str(SEED), "--library", str(lib))
    assert r.returncode == 1 and "broken.gl:2" in r.stderr


def test_run_one_guideline():
    r = guidec("run", str(PM), str(SEED), "--format", "json")
    assert r.returncode == 0
    assert json.loads(r.stdout)[0]["decision"] == "non_certified"


def test_test_command_runs_embedded_tests():
    r = guidec("test", "guidelines/")
    assert r.returncode == 0
    assert "PASS mtus.chronic_pain.physical_medicine: seed letter" in r.stdout


def test_failing_embedded_test_exits_1(tmp_path):
    text = PM.read_text().replace("expect modified 6 because initial_trial",
                                  "expect modified 5 because initial_trial")
    (tmp_path / "pm.gl").write_text(text.replace("../../../examples/", str(ROOT / "examples") + "/"))
    r = guidec("test", str(tmp_path / "pm.gl"))
    assert r.returncode == 1 and "expected 5 certified, got 6" in r.stdout


def test_schema_version_help_and_usage_errors():
    schema = json.loads(guidec("schema", "case").stdout)
    assert schema["required"] == ["case_id", "review_date", "requests"]
    assert guidec("--version").stdout.startswith("guidec ")
    help_text = guidec("review", "--help").stdout
    assert "Examples:" in help_text and "Exit codes:" in help_text
    assert guidec("review").returncode == 2
    assert guidec("check", "no/such/file.gl").returncode == 2


def test_progress_bar_on_a_terminal_only(tmp_path):
    import os
    import pty
    import subprocess
    import sys

    import gen
    path = tmp_path / "cases.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in gen.generate(3000)))
    primary, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "guidec", "review", str(path), "--format",
                             "jsonl", "-o", str(tmp_path / "out.jsonl")],
                            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=secondary, env={**os.environ, "COLUMNS": "100"})
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(timeout=300) == 0
    assert b"reviewing" in seen  # the Rich progress bar was drawn on the terminal
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 3000


def test_help_and_fmt_import_only_what_they_need():
    import subprocess
    import sys
    probe = ("import sys\nfrom guidec import cli\nsys.argv = ['guidec'] + sys.argv[1:]\n"
             "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
             "heavy = {'z3', 'networkx', 'graphviz', 'jsonschema', 'lark'}\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n")
    for args, allowed in ((["--help"], []), (["fmt", "--check", "guidelines/facts.gl"], ["lark"])):
        r = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                           cwd=ROOT)
        loaded = r.stdout.strip().splitlines()[-1]
        assert loaded == repr(allowed), (args, loaded)


def test_review_and_check_leave_the_graph_library_unloaded(tmp_path):
    # A review from compiled guidelines in the cache needs no parser, solver or graph
    # library; a check of a file just edited parses it (lark) and evaluates its tests from
    # the plan, without networkx; the solver (z3) runs only when the edit changed the logic
    # (a comment does not: the findings kept for the same logic are read back). Pictures and
    # coverage still load networkx. PyYAML is loaded for a YAML case file only, and the case
    # model (msgspec) to validate cases: a check's tests read their validated cases from the
    # cache when neither the cases nor the declared facts changed.
    import shutil
    import subprocess
    import sys
    probe = ("import sys\nfrom guidec import cli\nsys.argv = ['guidec'] + sys.argv[1:]\n"
             "try:\n    cli.main()\nexcept SystemExit:\n    pass\n"
             "heavy = {'z3', 'networkx', 'graphviz', 'jsonschema', 'lark', 'yaml', 'msgspec'}\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n")
    lib = tmp_path / "lib"
    shutil.copytree(ROOT / "guidelines", lib)
    edited = lib / "mtus" / "chronic_pain" / "massage.gl"
    review = ["review", str(SEED), "--library", str(lib), "--format", "jsonl"]
    for args, allowed in ((review, None), (review, ["msgspec", "yaml"]),
                          (["check", str(edited)], None),
                          (["check", str(edited)], ["lark"]),
                          (["check", str(edited)], ["lark", "z3"])):
        if allowed == ["lark"]:
            edited.write_text(edited.read_text() + "\n# edited\n")
        elif allowed is not None and args[0] == "check":
            text = edited.read_text()
            assert "allow 6 visits" in text
            edited.write_text(text.replace("allow 6 visits", "allow 7 visits"))
        r = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                           cwd=ROOT)
        loaded = r.stdout.strip().splitlines()[-1]
        if allowed is not None:  # the first of each pair fills the cache
            assert loaded == repr(allowed), (args, loaded, r.stderr[-2000:])


def test_a_missing_case_file_and_a_missing_guideline_both_exit_2(tmp_path):
    r = guidec("review", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and "no such file or folder" in r.stderr
    r = guidec("check", str(tmp_path / "nope.gl"))
    assert r.returncode == 2 and "no such file" in r.stderr
    r = guidec("review", str(SEED), "--library", str(tmp_path / "nolib"))
    assert r.returncode == 2 and "no such guideline library" in r.stderr


def test_check_watch_checks_again_after_each_change_and_stops_on_ctrl_c(tmp_path):
    """`guidec check --watch` prints a check, then another each time the guideline or a case
    file its test reads changes (each the same as a new `guidec check` of the files as they
    are then), and on Ctrl-C exits with the last check's code, without a traceback."""
    import os
    import queue
    import signal
    import subprocess
    import sys
    import threading

    gl, case = tmp_path / "g.gl", tmp_path / "c.yaml"
    case.write_text("case_id: c1\nreview_date: 2016-06-01\nfindings: {flare_up: true}\n"
                    "requests:\n  - {id: '1', treatment: physical_therapy, visits: 6}\n")
    good = ('guideline lib.g "G"\n  source "Doc" p. 1\n'
            '  applies when request.treatment in {physical_therapy}\n\n'
            'require flare "Flare"\n  must findings.flare_up\n  cite p. 1\n\n'
            'test "a flare is documented"\n  case "c.yaml" for "1"\n  expect certified 6\n')
    gl.write_text(good)
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "guidec", "check", "--watch", str(gl)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()

    def next_check(edit=None) -> str:
        """The next check's output; `edit` is made again until a check follows it (a change
        made before the watcher is listening is not seen)."""
        out: list[str] = []
        for _ in range(30):
            if edit is not None:
                edit()
            try:
                while True:
                    out.append(lines.get(timeout=2))
                    if " checked: " in out[-1]:
                        return "".join(out)
            except queue.Empty:
                assert proc.poll() is None, proc.stderr.read()
        raise AssertionError("no check after the change: " + "".join(out))

    def fresh() -> str:
        r = subprocess.run([sys.executable, "-m", "guidec", "check", str(gl)], cwd=ROOT,
                           capture_output=True, text=True,
                           env=dict(env, GUIDEC_NO_CACHE="1"))
        return r.stdout

    try:
        first = next_check()
        assert first.endswith("1 file checked: 0 errors, 0 warnings, 1 tests passed, 0 failed\n")
        broken = good.replace("findings.flare_up", "findings.flair")
        second = next_check(lambda: gl.write_text(broken))
        assert "E201" in second and "1 error" in second
        assert second == fresh()
        third = next_check(lambda: gl.write_text(good))
        assert ", 1 tests passed, 0 failed" in third and "0 errors" in third
        # Only the case file changes: the test reads it as it is now, and fails.
        text = case.read_text()
        fourth = next_check(lambda: case.write_text(text.replace("flare_up: true",
                                                                 "flare_up: false")))
        assert "T001" in fourth and "0 tests passed, 1 failed" in fourth
        assert fourth == fresh()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err  # the last check's: a test failed
    assert "Traceback" not in err and "watching" in err and "c.yaml changed" in err
