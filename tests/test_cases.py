"""Case files: the contract's formats, its JSON Schema, and errors that name field and value."""

import json

import jsonschema
import pytest

from conftest import SEED, IMR_CORPUS
from guidec.compiler.model import cases


def test_seed_case_normalizes_frequency_to_visits():
    [c] = cases.load(SEED)
    assert c.case_id == "imr-seed-pt-cervical"
    r = c.requests[0]
    assert (r["per_week"], r["weeks"], r["visits"]) == (2, 6, 12)
    assert [d["code"] for d in c.diagnoses] == ["M96.1", "M47.812", "M54.12"]


def test_json_and_jsonl_read_the_same_case(tmp_path):
    import yaml
    data = yaml.safe_load(SEED.read_text())
    data["review_date"] = str(data["review_date"])
    data["injury"]["date"] = str(data["injury"]["date"])
    (tmp_path / "c.json").write_text(json.dumps(data))
    (tmp_path / "c.jsonl").write_text(json.dumps(data) + "\n" + json.dumps(data | {"case_id": "b"}))
    [a] = cases.load(tmp_path / "c.json")
    b = cases.load(tmp_path / "c.jsonl")
    assert a.requests == b[0].requests and [c.case_id for c in b] == [a.case_id, "b"]


@pytest.mark.parametrize("patch,words", [
    ({"review_date": "2013-13-45"}, ["review_date", "2013-13-45"]),
    ({"requests": [{"id": "1", "treatment": "physical_therapy", "visits": "twelve"}]},
     ["requests[0].visits", '"twelve"']),
    ({"findings": {"home_exercise_program": "yes"}}, ["findings.home_exercise_program", '"yes"']),
])
def test_broken_case_names_field_and_value(patch, words):
    data = {"case_id": "x", "review_date": "2016-01-01",
            "requests": [{"id": "1", "treatment": "physical_therapy"}]} | patch
    with pytest.raises(cases.CaseError) as err:
        cases.from_dict(data, "x.yaml")
    for w in words:
        assert w in str(err.value)


def test_missing_required_field():
    with pytest.raises(cases.CaseError, match="review_date"):
        cases.from_dict({"case_id": "x", "requests": []}, "x.yaml")


def test_schema_is_valid_and_accepts_seed():
    schema = cases.schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    import yaml
    data = cases._jsonable(yaml.safe_load(SEED.read_text()))
    jsonschema.validate(data, schema)


def test_every_real_imr_case_loads():
    files = sorted(IMR_CORPUS.glob("*.yaml"))
    assert len(files) > 50
    for f in files:
        assert cases.load(f)[0].requests


def test_the_shipped_corpus_is_the_shared_corpus_when_it_is_beside_the_checkout():
    shared = IMR_CORPUS.parents[2] / "shared" / "cases" / "imr"
    if not shared.exists():
        pytest.skip("shared/ is not beside this checkout")
    ours = {p.name: p.read_bytes() for p in IMR_CORPUS.glob("*.yaml")}
    theirs = {p.name: p.read_bytes() for p in shared.glob("*.yaml")}
    assert ours == theirs, "copy shared/cases/imr into corpus/imr again"


def test_a_set_of_terms_may_name_its_terms_in_mappings():
    base = {"case_id": "x", "review_date": "2017-01-10"}
    case = cases.from_dict(base | {"requests": [{
        "id": "1", "treatment": "topical_analgesic",
        "ingredients": [{"drug": "flurbiprofen", "strength": "10%"}, "lidocaine"]}]}, "x.yaml")
    assert case.requests[0]["ingredients"] == frozenset({"flurbiprofen", "lidocaine"})
    with pytest.raises(cases.CaseError) as err:
        cases.from_dict(base | {"requests": [{"id": "1", "treatment": "topical_analgesic",
                                              "ingredients": [{"strength": "5%"}]}]}, "x.yaml")
    assert "requests[0].ingredients[0]" in str(err.value) and "missing `drug`" in str(err.value)


def test_libyaml_reads_every_shipped_case_file_as_the_python_loader_does():
    """YAML case files are read by libyaml (PyYAML's C parser) where PyYAML has it, with the
    Python loader's resolving of scalars: the same data for every case file shipped."""
    import yaml
    root = IMR_CORPUS.parents[1]
    files = sorted({*IMR_CORPUS.glob("*.yaml"), *(root / "examples").rglob("*.yaml"),
                    *(root / "tests").rglob("*.yaml")})
    assert len(files) > 250
    fast, slow = cases._yaml_loader(fast=True), cases._yaml_loader()
    if yaml.__with_libyaml__:
        assert issubclass(fast, yaml.CSafeLoader)
    read = 0
    for f in files:
        text = f.read_text("utf-8")
        try:
            want = yaml.load(text, Loader=slow)  # noqa: S506
        except yaml.YAMLError:
            continue  # a broken file of the tests: the Python loader words its message
        assert yaml.load(text, Loader=fast) == want, f  # noqa: S506
        assert cases._yaml(text, f.name) == want, f
        read += 1
    assert read > 250


def test_a_file_libyaml_refuses_gets_the_python_loaders_located_message(tmp_path):
    bad = tmp_path / "tab.yaml"
    bad.write_text("case_id: x\nreview_date: 2016-01-01\nrequests:\n\t- {id: 1}\n")
    with pytest.raises(cases.CaseError) as err:
        cases.load(bad)
    assert str(err.value).startswith(f"{bad}:4:1: not valid YAML: found character '\\t' "
                                      "that cannot start any token")
