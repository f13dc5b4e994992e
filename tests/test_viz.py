"""Pictures and the HTML report: golden DOT, the real `dot`, and a real headless Chromium."""

import os
import shutil

import pytest

from conftest import PM, ROOT, SEED, guidec
from guidec.compiler.model import cases
from guidec.compiler.rendering import dot
from guidec.compiler.pipeline import compile_source

GOLDEN = ROOT / "tests" / "golden" / "small.dot"
SMALL = '''guideline t.small "Small \\"quoted\\" guideline"
  source "Doc" pp. 1-2
  applies when request.treatment in {physical_therapy}
section "Caps"
limit cap "Ten visits" allow 10 visits counting sum history.visits cite p. 1
require hep "Home <exercise> & \\\\program" must findings.home_exercise_program cite p. 2
'''
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz not installed")


def small_det():
    c = compile_source(SMALL, "small.gl")
    assert c.ok, c.render_diagnostics()
    case = cases.from_dict({"case_id": "s", "review_date": "2016-01-01",
                            "history": [{"treatment": "physical_therapy", "visits": 4}],
                            "findings": {"home_exercise_program": False},
                            "requests": [{"id": "1", "treatment": "physical_therapy",
                                          "visits": 12}]})
    return c, c.evaluator.evaluate(case, case.requests[0])


def test_dot_matches_golden_file():
    """The golden file was read by a person: shapes, colours, labels and the faded/red path."""
    c, det = small_det()
    text = dot.to_dot(c.graph, det).source
    if os.environ.get("GUIDEC_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_user_text_is_escaped_in_dot():
    c, det = small_det()
    text = dot.to_dot(c.graph, det).source
    assert 'Small \\"quoted\\" guideline' in text
    assert "Home <exercise> & \\\\program" in text


@needs_dot
@pytest.mark.parametrize("ext,magic", [(".svg", b"<svg"), (".png", b"\x89PNG"),
                                        (".pdf", b"%PDF")])
def test_viz_renders_with_real_dot(tmp_path, ext, magic):
    out = tmp_path / f"seed{ext}"
    r = guidec("viz", str(PM), "--case", str(SEED), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert magic in out.read_bytes()[:1000]


@needs_dot
def test_svg_shows_path_values_and_reasons(tmp_path):
    out = tmp_path / "seed.svg"
    guidec("viz", str(PM), "--case", str(SEED), "-o", str(out))
    svg = out.read_text()
    assert "prior 24, requested 12, cap 10" in svg
    assert "NON CERTIFIED" in svg and "0 of 12 certified" in svg
    assert svg.count("Reason: ") == 3


def test_viz_without_dot_fails_in_one_line_and_dot_still_works(tmp_path):
    env_path = str(tmp_path)  # a PATH with no `dot` on it
    import subprocess
    import sys
    base = [sys.executable, "-m", "guidec", "viz", str(PM)]
    r = subprocess.run(base + ["-o", str(tmp_path / "x.png")], capture_output=True, text=True,
                       env={**os.environ, "PATH": env_path})
    assert r.returncode == 1
    assert "apt-get install graphviz" in r.stderr and "brew install graphviz" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run(base, capture_output=True, text=True, env={**os.environ, "PATH": env_path})
    assert r.returncode == 0 and r.stdout.startswith("digraph")


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@needs_dot
@pytest.mark.skipif(chromium() is None, reason="Chromium not installed (make test installs it)")
def test_html_report_in_headless_chromium(tmp_path):
    from playwright.sync_api import sync_playwright
    report = tmp_path / "seed.html"
    r = guidec("review", str(SEED), "--library", "guidelines", "--html", str(report))
    assert r.returncode == 0, r.stderr
    page_text = report.read_text()
    assert "http://" not in page_text.replace("http://www.w3.org", "")
    assert "https://" not in page_text
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        requests: list[str] = []
        page.on("request", lambda req: requests.append(req.url))
        page.goto(report.as_uri())
        assert "NON-CERTIFIED" in page.inner_text(".decision")
        node = page.locator("g.node#n_rule_home_exercise")
        node.click()
        details = page.inner_text(".details")
        assert "Transition to a self-directed home exercise program" in details
        assert "physical_medicine.gl:" in details
        assert "recorded: no" in details  # a yes/no the records state as no
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert all(u.startswith(("file:", "data:", "about:")) for u in requests), requests
    assert (tmp_path / "report.png").stat().st_size > 10_000


@needs_dot
def test_user_text_is_escaped_in_the_html_report(tmp_path):
    case = tmp_path / "x.yaml"
    case.write_text(SEED.read_text().replace(
        'item: "Physical therapy 2x6 cervical spine"',
        'item: "<script>alert(1)</script> & \\"PT\\""'))
    report = tmp_path / "x.html"
    r = guidec("review", str(case), "--library", "guidelines", "--html", str(report))
    assert r.returncode == 0, r.stderr
    html = report.read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;PT&quot;" in html
    assert html.count("<script") == 2  # the node data and the page's own script, nothing else
