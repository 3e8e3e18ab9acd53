"""``kyphos evidence``: published cohorts — list, add, and check their statistics.

* ``evidence list`` — the built-in cohorts and those stored in the registry.
* ``evidence add FILE`` — validate a published-cohort file and store it (audited).
* ``evidence check [FILE]`` — the consistency checks of CLINICAL.md §9 on FILE, or on
  every installed cohort; a text table (``--format text``) or JSON (``--format json``).

``check`` exits 0 whatever it finds (the findings are its output) and 1 when the file
cannot be read or is not a valid cohort file (each problem on its own ``error:`` line);
other bad input exits 2, as everywhere in the CLI.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kyphos.errors import KyphosError, SchemaError

if TYPE_CHECKING:
    from kyphos.analysis.cohorts import PublishedCohort
    from kyphos.analysis.consistency import CohortCheck, Finding, Summary
    from kyphos.clinical.errors import ClinicalValueError

evidence_app = typer.Typer(
    help="Published cohorts: side by side with yours, and checks of their statistics.",
    no_args_is_help=True,
)

FORMATS = ("text", "json")

_CHECK_NAMES = {
    "p_from_t": ("p from t", "由 t 推 p"),
    "attainable_t": ("attainable t", "可达 t 值"),
    "grim": ("GRIM", "GRIM"),
    "sd_bound": ("SD bound", "标准差上限"),
}
_VERDICTS = {
    "consistent": ("consistent", "一致"),
    "inconsistent": ("INCONSISTENT", "不一致"),
    "grossly_inconsistent": ("GROSSLY INCONSISTENT", "严重不一致"),
    "possible": ("possible", "可能"),
    "impossible": ("IMPOSSIBLE", "不可能"),
    "not_applicable": ("not applicable", "不适用"),
}
_HEADERS = {
    "check": (
        ("check", "cell", "statistic", "printed", "expected", "verdict"),
        ("检查", "单元", "统计量", "印刷值", "应为", "结论"),
    ),
    "list": (
        ("key", "citation", "n", "outcomes", "source"),
        ("键", "文献", "n", "结局指标", "来源"),
    ),
}


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "zh" else pair[0]


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell (wide CJK characters count twice)."""
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return lines


def _installed() -> list[PublishedCohort]:
    """Built-in cohorts and the registry's; only the built-in ones without a registry."""
    from kyphos.analysis.cohorts import installed_cohorts
    from kyphos.registry.repository import Registry

    try:
        registry = Registry.open()
    except SchemaError as error:
        print(
            f"note: {error.problems[0]} — showing the built-in cohorts only",
            file=sys.stderr,
        )
        return installed_cohorts(None)
    return installed_cohorts(registry)


def _problem_lines(failure: ClinicalValueError, lang: str) -> list[str]:
    from kyphos.clinical.errors import ClinicalValueErrors

    problems = failure.problems if isinstance(failure, ClinicalValueErrors) else (failure,)
    return [f"{problem.field}: {problem.text(lang)}" for problem in problems]


@evidence_app.command("list")
def evidence_list(
    lang: Annotated[str, typer.Option("--lang", help="en or zh.")] = "",
) -> None:
    """List the installed published cohorts (built-in and stored in the registry)."""
    from kyphos.cli import output_language

    language = output_language(lang)
    rows = [
        [
            cohort.key,
            cohort.citation.short,
            str(cohort.baseline.n),
            ", ".join(cohort.outcomes),
            cohort.source,
        ]
        for cohort in _installed()
    ]
    for line in _table(_HEADERS["list"][1 if language == "zh" else 0], rows):
        typer.echo(line)


@evidence_app.command("add")
def evidence_add(
    file: Annotated[Path, typer.Argument(help="A published-cohort JSON file.")],
) -> None:
    """Validate a published-cohort file and store it in the registry (same key: replaced)."""
    from kyphos.analysis.cohorts import add_cohort
    from kyphos.registry.repository import Registry

    registry = Registry.open()
    result = add_cohort(registry, file)
    cohort = result.cohort
    what = {
        "created": "stored",
        "replaced": "stored (replaced the earlier cohort with this key)",
        "unchanged": "already stored, unchanged",
    }[result.outcome]
    typer.echo(
        f"{cohort.key}: {cohort.citation.short}, n = {cohort.baseline.n}, "
        f"{len(cohort.outcomes)} outcomes, {len(cohort.tests)} reported tests — {what}"
    )


@evidence_app.command("check")
def evidence_check(
    file: Annotated[
        Path | None,
        typer.Argument(help="A published-cohort JSON file (default: every installed cohort)."),
    ] = None,
    format: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    lang: Annotated[str, typer.Option("--lang", help="en or zh (text output).")] = "",
) -> None:
    """Check a paper's printed statistics (statcheck, attainable t, GRIM, SD bounds)."""
    from kyphos.analysis.cohorts import load_cohort
    from kyphos.analysis.consistency import check_cohort, checks_dict
    from kyphos.cli import output_language
    from kyphos.clinical.errors import ClinicalValueError

    chosen = format.strip().lower()
    if chosen not in FORMATS:
        raise KyphosError(f"--format: {format!r} is not one of {', '.join(FORMATS)}")
    language = output_language(lang)
    try:
        cohorts = [load_cohort(file)] if file is not None else _installed()
    except ClinicalValueError as failure:
        for line in _problem_lines(failure, language):
            print(f"error: {line}", file=sys.stderr)
        raise typer.Exit(1) from None
    checks = [check_cohort(cohort) for cohort in cohorts]
    if chosen == "json":
        typer.echo(json.dumps(checks_dict(checks), ensure_ascii=False, indent=2))
        return
    for line in render_text(checks, language):
        typer.echo(line)


def _cell(finding: Finding) -> str:
    return f"{finding.outcome} {'→'.join(finding.timepoints)}"


def _summary_line(summary: Summary, lang: str) -> str:
    if lang == "zh":
        return (
            f"共运行 {summary.run} 项检查：通过 {summary.passed}，未通过 {summary.failed}；"
            f"不适用 {summary.not_applicable}"
        )
    return (
        f"{summary.run} checks run: {summary.passed} passed, {summary.failed} failed; "
        f"{summary.not_applicable} not applicable"
    )


def render_text(checks: Sequence[CohortCheck], lang: str) -> list[str]:
    """The checks as a readable table per cohort, each finding's reason below it."""
    from kyphos.analysis.consistency import Summary

    lines: list[str] = []
    total = Summary(0, 0, 0, 0)
    header = _HEADERS["check"][1 if lang == "zh" else 0]
    for check in checks:
        total = total + check.summary
        doi = f" (doi:{check.doi})" if check.doi else ""
        lines.append(f"{check.key} — {check.citation}{doi} [{check.source}]")
        rows = [
            [
                _pick(_CHECK_NAMES[finding.check], lang),
                _cell(finding),
                finding.statistic,
                finding.printed,
                finding.expected or "—",
                _pick(_VERDICTS[finding.verdict], lang),
            ]
            for finding in check.findings
        ]
        table = _table(header, rows)
        lines.append(table[0])
        for finding, row in zip(check.findings, table[1:], strict=True):
            lines.append(row)
            lines.append(f"    {finding.why(lang)}")
        lines.append(_summary_line(check.summary, lang))
        lines.append("")
    if len(checks) > 1:
        label = "合计" if lang == "zh" else "all cohorts"
        lines.append(f"{label}: {_summary_line(total, lang)}")
    elif lines and not lines[-1]:
        lines.pop()
    return lines


def register(app: typer.Typer) -> None:
    app.add_typer(evidence_app, name="evidence")
