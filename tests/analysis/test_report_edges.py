"""Edge cases of the study report: nothing to compute gives null with a reason, never a
crash and never a NaN (an empty site, one observer, no leakage, no follow-up)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from kyphos.analysis import load_dataset
from kyphos.analysis.report import render_html, render_md
from kyphos.analysis.report.render_json import report_dict
from kyphos.analysis.results import compute_report
from kyphos.exchange.importer import import_workbook
from kyphos.registry.repository import Registry


def _no_nan(value: Any) -> None:
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, dict):
        for item in value.values():
            _no_nan(item)
    elif isinstance(value, list):
        for item in value:
            _no_nan(item)


def test_an_empty_site_gives_a_report_of_nulls_each_with_a_reason(registry: Registry) -> None:
    registry.add_site("EMPTY", "No patients yet")
    dataset = load_dataset(site="EMPTY")
    report = compute_report(dataset, site="EMPTY")
    document = json.loads(json.dumps(report_dict(report)))
    _no_nan(document)
    assert document["cohort"]["patients"] == 0
    assert document["outcomes"]["vas"]["comparisons"][0]["t"] is None
    noted = {note["path"]: note["reason"] for note in document["notes"]}
    assert "outcomes.vas.comparisons[0].t" in noted
    assert "reliability.anterior_height_mm.icc" in noted
    for lang in ("en", "zh"):
        text = render_md.render(report, dataset, lang) + render_html.render(report, dataset, lang)
        assert not re.search(r"\bnan\b", text, flags=re.IGNORECASE)


def test_one_observer_no_leakage_and_no_follow_up_are_nulls_not_errors(
    registry: Registry, tmp_path: Path
) -> None:
    folder = tmp_path / "workbook"
    folder.mkdir()
    files = {
        "patients.csv": "patient_id,sex,age\nP1,F,70\nP2,M,75\n",
        "vertebrae.csv": "patient_id,level,treated\nP1,L1,yes\nP2,T12,yes\n",
        "procedures.csv": "patient_id,level,procedure_date,leakage\n"
        "P1,L1,2010-01-10,none\nP2,T12,2010-02-10,\n",
        "visits.csv": "patient_id,timepoint,visit_date,vas\nP1,preop,2010-01-09,8\n"
        "P1,postop,2010-01-17,3\nP2,preop,2010-02-09,7\n",
        "measurements.csv": "patient_id,level,timepoint,observer,anterior_height_mm\n"
        "P1,L1,preop,solo,15\nP1,L1,postop,solo,24\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    import_workbook(registry, folder)
    document = json.loads(json.dumps(report_dict(compute_report(load_dataset()))))
    _no_nan(document)
    # one pair preop-postop of VAS: n = 1 < 2
    first = document["outcomes"]["vas"]["comparisons"][0]
    assert first["n"] == 1 and first["t"] is None
    # a single observer: no pairs for agreement
    assert document["reliability"]["anterior_height_mm"]["pairs"] == 0
    assert document["reliability"]["anterior_height_mm"]["icc"] is None
    # no leakage anywhere
    leakage = document["complications"]["cement_leakage"]
    assert (leakage["vertebrae"], leakage["of"], leakage["rate"]) == (0, 2, 0.0)
    # P2 has no follow-up visit after the procedure: not in the survival analysis
    paths = {note["path"] for note in document["notes"]}
    assert "reliability.anterior_height_mm.icc" in paths
    assert "outcomes.vas.comparisons[0].t" in paths
