"""Generate varied physical-therapy case dicts (deterministic, seeded) for benchmarks and load runs."""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
from typing import Any

CODES = ["M54.12", "M54.16", "M79.1", "M79.2", "G90.512", "M62.830", "S39.012A", "M25.511",
         "M47.812", "M96.1", "S16.1XXA", "M51.26"]
REGIONS = ["cervical", "thoracic", "lumbar", "shoulder", "knee", "wrist_hand", "multiple"]


def make_case(i: int, rng: random.Random) -> dict[str, Any]:
    review = dt.date(2010, 1, 1) + dt.timedelta(days=rng.randrange(0, 2800))
    region = rng.choice(REGIONS)
    history = []
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        entry: dict[str, Any] = {"treatment": rng.choice(["physical_therapy", "occupational_therapy",
                                                          "chiropractic"]),
                                 "body_region": region}
        if rng.random() < 0.9:
            entry["visits"] = rng.randrange(0, 30)
        if rng.random() < 0.7:
            entry["functional_improvement"] = rng.random() < 0.5
        history.append(entry)
    findings: dict[str, Any] = {}
    if rng.random() < 0.7:
        findings["home_exercise_program"] = rng.random() < 0.6
    if rng.random() < 0.3:
        findings["functional_improvement"] = rng.random() < 0.5
    if rng.random() < 0.2:
        findings["objective_deficits"] = rng.random() < 0.7
    if rng.random() < 0.1:
        findings["home_program_insufficient_explained"] = rng.random() < 0.5
    request: dict[str, Any] = {"id": "1", "treatment": rng.choice(["physical_therapy",
                                                                   "occupational_therapy"]),
                               "body_region": region}
    if rng.random() < 0.5:
        request["visits"] = rng.choice([4, 6, 8, 10, 12, 18, 24])
    else:
        request["frequency"] = {"per_week": rng.choice([1, 2, 3, 4, 5]),
                                "weeks": rng.choice([2, 3, 4, 6, 8])}
    return {
        "case_id": f"gen-{i:06d}", "review_date": review.isoformat(),
        "patient": {"age": rng.randrange(18, 80), "sex": rng.choice(["male", "female"])},
        "diagnoses": rng.sample(CODES, rng.randrange(1, 4)),
        "history": history, "findings": findings, "requests": [request],
    }


def generate(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [make_case(i, rng) for i in range(n)]


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    for case in generate(count):
        sys.stdout.write(json.dumps(case) + "\n")
