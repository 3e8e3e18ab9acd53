"""``kyphos evidence list|add|check`` end to end: the real command in a subprocess, on
SQLite and on PostgreSQL.

The contract (DESIGN.md "Interfaces", issue 5): ``check`` exits 0 whatever it finds and
1 only for a file it cannot read or parse (each problem on an ``error:`` line); other
bad input exits 2; never a traceback. Expected counts for the reference study are
worked out by hand in tests/analysis/test_consistency.py (15 passed, 12 failed, 15 not
applicable of 42 checks).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kyphos.config import Settings
from kyphos.registry.repository import init_registry

Result = subprocess.CompletedProcess[str]
KyphosCli = Callable[..., Result]

REFERENCE_SUMMARY = "27 checks run: 15 passed, 12 failed; 15 not applicable"

COHORT: dict[str, Any] = {
    "key": "lee-2015",
    "citation": {
        "authors": ["Lee K", "Park S"],
        "title": "Vertebroplasty series",
        "journal": "Eur Spine J",
        "year": 2015,
        "doi": "10.1007/s00586-015-0000-0",
    },
    "timepoints": [{"key": "preop"}, {"key": "m6"}],
    "cohort": {"n": 20},
    "outcomes": {
        "odi_raw": {
            "sections_answered": 10,
            "preop": {"n": 20, "mean": "23.47", "sd": "4.10"},
            "m6": {"n": 20, "mean": "12.45", "sd": "3.00"},
        }
    },
    "reported_tests": [
        {"outcome": "odi_raw", "a": "preop", "b": "m6", "test": "paired t", "t": "2.20",
         "df": 28, "p": "0.06"}
    ],
}  # fmt: skip


def _ok(result: Result) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def _failed(result: Result, code: int) -> list[str]:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), result.stderr
    return lines


def _file(tmp_path: Path, data: Any, name: str = "lee.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_check_without_a_registry_checks_the_built_in_cohort(kyphos_cli: KyphosCli) -> None:
    result = kyphos_cli("evidence", "check")
    out = _ok(result)
    assert "zhang-2011 — Zhang et al. 2011 (doi:10.3969/j.issn.1003-0034.2011.07.010)" in out
    assert out.strip().splitlines()[-1] == REFERENCE_SUMMARY
    assert "GROSSLY INCONSISTENT" in out and "IMPOSSIBLE" in out
    assert "the built-in cohorts only" in result.stderr


def test_check_a_file_as_json(kyphos_cli: KyphosCli, tmp_path: Path) -> None:
    document = json.loads(_ok(kyphos_cli("evidence", "check", _file(tmp_path, COHORT),
                                         "--format", "json")))  # fmt: skip
    (cohort,) = document["cohorts"]
    verdicts = {(f["check"], tuple(f["timepoints"])): f["verdict"] for f in cohort["findings"]}
    # CLINICAL.md §9: t(28) = 2.20, p = .06 → gross; GRIM 23.47 with N 20 → impossible;
    # 12.45 × 20 = 249 → possible.
    assert verdicts[("p_from_t", ("preop", "m6"))] == "grossly_inconsistent"
    assert verdicts[("grim", ("preop",))] == "impossible"
    assert verdicts[("grim", ("m6",))] == "possible"
    assert document["summary"] == cohort["summary"]


def test_check_speaks_chinese(kyphos_cli: KyphosCli, tmp_path: Path) -> None:
    out = _ok(kyphos_cli("evidence", "check", _file(tmp_path, COHORT), "--lang", "zh"))
    assert "严重不一致" in out and "结论" in out
    assert out.strip().splitlines()[-1].startswith("共运行")


def test_check_exits_1_with_located_errors_for_a_bad_file(
    kyphos_cli: KyphosCli, tmp_path: Path
) -> None:
    bad = json.loads(json.dumps(COHORT))
    bad["outcomes"]["odi_raw"]["preop"]["sd"] = "-1"
    bad["reported_tests"][0]["p"] = "ns"
    lines = _failed(kyphos_cli("evidence", "check", _file(tmp_path, bad, "cohort.json")), 1)
    where = tmp_path / "cohort.json"
    assert lines == [
        f"error: {where}:outcomes.odi_raw.preop.sd: -1 is below 0",
        f"error: {where}:reported_tests[0].p: 'ns' is neither a number nor a bound such as "
        '"<0.05" or ">0.05"',
    ]
    broken = _file(tmp_path, '{"key": "x",', "broken.json")
    (line,) = _failed(kyphos_cli("evidence", "check", broken), 1)
    assert "not valid JSON: line 1, column 13" in line
    (line,) = _failed(kyphos_cli("evidence", "check", tmp_path / "absent.json"), 1)
    assert line.endswith("absent.json: no such file")


def test_check_refuses_an_unknown_format_with_exit_2(kyphos_cli: KyphosCli) -> None:
    (line,) = _failed(kyphos_cli("evidence", "check", "--format", "xml"), 2)
    assert "--format" in line


def test_add_list_and_check_every_installed_cohort(
    kyphos_cli: KyphosCli, registry_settings: Settings, tmp_path: Path
) -> None:
    init_registry(registry_settings)
    path = _file(tmp_path, COHORT)
    out = _ok(kyphos_cli("evidence", "add", path))
    assert out.strip() == (
        "lee-2015: Lee K et al. 2015, n = 20, 1 outcomes, 1 reported tests — stored"
    )
    listed = _ok(kyphos_cli("evidence", "list")).splitlines()
    assert listed[0].split() == ["key", "citation", "n", "outcomes", "source"]
    assert listed[1].split()[0] == "zhang-2011" and listed[1].endswith("built-in")
    assert listed[2].split()[0] == "lee-2015" and listed[2].endswith("registry")
    checked = _ok(kyphos_cli("evidence", "check"))
    assert "lee-2015 — Lee K et al. 2015" in checked
    assert checked.strip().splitlines()[-1].startswith("all cohorts: ")
    again = dict(COHORT, cohort={"n": 21})
    out = _ok(kyphos_cli("evidence", "add", _file(tmp_path, again)))
    assert "replaced the earlier cohort" in out
    assert "audit trail intact" in _ok(kyphos_cli("audit", "verify"))


def test_add_refuses_a_bad_file_and_a_built_in_key_with_exit_2(
    kyphos_cli: KyphosCli, registry_settings: Settings, tmp_path: Path
) -> None:
    init_registry(registry_settings)
    bad = dict(COHORT, outcomes={"pain": {}})
    first, second = _failed(kyphos_cli("evidence", "add", _file(tmp_path, bad)), 2)
    assert ":outcomes.pain: 'pain' is not an outcome kyphos knows" in first
    assert second.endswith(
        ":reported_tests[0].outcome: 'odi_raw' is not an outcome of this file (none)"
    )
    (line,) = _failed(
        kyphos_cli("evidence", "add", _file(tmp_path, dict(COHORT, key="zhang-2011"))), 2
    )
    assert "built-in cohort" in line
    listed = _ok(kyphos_cli("evidence", "list"))
    assert "lee-2015" not in listed


def test_add_needs_an_initialised_registry(kyphos_cli: KyphosCli, tmp_path: Path) -> None:
    (line,) = _failed(kyphos_cli("evidence", "add", _file(tmp_path, COHORT)), 2)
    assert "kyphos init" in line
