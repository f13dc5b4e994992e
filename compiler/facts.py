"""The case-fact schema: which paths a guideline may read, their types, and the vocabulary."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import yaml


@dataclass(frozen=True, slots=True)
class Type:
    """A guideline type. `category` names the vocabulary of a term (treatment, body_region...)."""

    kind: str  # bool int date duration term terms code valueset collection text
    category: str | None = None

    def __str__(self) -> str:
        words = {
            "bool": "yes/no", "int": "number", "date": "date", "duration": "duration",
            "term": "term", "terms": "set of terms", "code": "ICD-10 code",
            "valueset": "value set", "collection": "list of entries", "text": "text",
        }
        word = words.get(self.kind, self.kind)
        return f"{word} ({self.category})" if self.category and self.kind in {"term", "terms"} else word


BOOL, INT, DATE, DURATION, CODE, TEXT = (Type(k) for k in ("bool", "int", "date", "duration",
                                                           "code", "text"))


def term(category: str) -> Type:
    return Type("term", category)


def terms(category: str) -> Type:
    return Type("terms", category)


FINDINGS: dict[str, Type] = {
    name: BOOL for name in (
        "functional_improvement home_exercise_program home_program_insufficient_explained "
        "objective_deficits return_to_work flare_up maintenance_care failed_conservative_care "
        "medication_reduction medication_reduced_or_not_tolerated adjunct_to_rehabilitation "
        "radiculopathy_on_exam radiculopathy_corroborated neuropathic_pain other_modalities_failed "
        "tens_trial_completed tens_trial_outcome_documented treatment_plan_goals "
        "baseline_functional_testing previous_methods_failed significant_loss_of_function "
        "surgery_candidate motivated_to_change negative_predictors_addressed analgesia_documented "
        "adl_improvement adverse_effects_assessed aberrant_behavior_assessed urine_drug_screen "
        "cures_checked opioid_agreement pain_unchanged"
    ).split()
}
FINDINGS.update({"pain_duration_months": INT, "pain_relief_percent": INT,
                 "pain_relief_weeks": INT})

REQUEST: dict[str, Type] = {
    "treatment": term("treatment"), "body_region": term("body_region"),
    "visits": INT, "per_week": INT, "weeks": INT, "quantity": INT,
    "postoperative": BOOL, "trial": BOOL, "rental_days": INT, "purchase": BOOL, "leads": INT,
    "levels": INT, "approach": term("approach"), "fluoroscopy": BOOL, "phase": term("phase"),
    "drug": term("drug"), "daily_mme": INT, "days_supply": INT, "sessions": INT, "days": INT,
    "ur_decision": term("decision"), "ur_certified": INT,
}

RECORDS: dict[str, dict[str, Type]] = {
    "request": REQUEST,
    "findings": FINDINGS,
    "patient": {"age": INT, "sex": term("sex")},
    "injury": {"date": DATE, "body_regions": terms("body_region")},
}

TOP_LEVEL: dict[str, Type] = {"review_date": DATE}

COLLECTIONS: dict[str, dict[str, Type]] = {
    "history": {
        "treatment": term("treatment"), "body_region": term("body_region"), "visits": INT,
        "start": DATE, "end": DATE, "functional_improvement": BOOL,
        "pain_relief_percent": INT, "relief_weeks": INT, "medication_reduced": BOOL,
        "outcome_documented": BOOL,
    },
    "surgeries": {"procedure": term("procedure"), "date": DATE, "body_region": term("body_region")},
    "diagnoses": {"code": CODE},
}
COLLECTION_ALIASES = {"surgery": "surgeries"}

# Fields the case-file contract requires, so always documented (the analysis relies on it).
REQUIRED_FIELDS = {"history": {"treatment"}, "surgeries": {"procedure"}, "diagnoses": {"code"},
                   "request": {"treatment"}}

QUANTITY_UNITS = {"visit", "visits", "session", "sessions", "treatment", "treatments",
                  "injection", "injections", "block", "blocks", "day", "days", "unit", "units",
                  "level", "levels", "tablet", "tablets", "doses"}
TIME_UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30,
              "year": 365, "years": 365}


@functools.lru_cache(maxsize=1)
def vocabulary() -> dict[str, frozenset[str]]:
    """Category → known terms, from the library's `vocabulary.yaml` (package data)."""
    text = resources.files("guidec.guidelines").joinpath("vocabulary.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    return {category: frozenset(words) for category, words in data["categories"].items()}


def all_terms() -> frozenset[str]:
    return frozenset().union(*vocabulary().values())
