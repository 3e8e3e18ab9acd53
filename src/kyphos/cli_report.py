"""``kyphos report``: the study report from the registry, in one command."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from kyphos.errors import KyphosError

FORMATS = ("html", "docx", "md", "json", "csv")


def report(
    format: Annotated[str, typer.Option("--format", help="html, docx, md, json or csv.")] = "html",
    lang: Annotated[
        str, typer.Option("--lang", help="en or zh (default: KYPHOS_LANG or en).")
    ] = "",
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="Where to write (default ./kyphos-report.<format>, a folder for csv; "
            "'-' prints json or md).",
        ),
    ] = None,
    site: Annotated[str | None, typer.Option("--site", help="Only this site's patients.")] = None,
) -> None:
    """Compute the study report: tables, tests and figures."""
    from kyphos.analysis.dataset import load_dataset
    from kyphos.analysis.results import compute_report
    from kyphos.cli import output_language

    chosen = format.strip().lower()
    if chosen not in FORMATS:
        raise KyphosError(f"--format: {format!r} is not one of {', '.join(FORMATS)}")
    language = output_language(lang)
    if out == "-" and chosen not in ("json", "md"):
        raise KyphosError(f"--out -: only json and md can be printed, not {chosen}")
    target = Path(out) if out and out != "-" else Path(f"kyphos-report.{chosen}")
    if chosen == "csv" and not out:
        target = Path("kyphos-report")
    from kyphos.analysis.cohorts import installed_cohorts
    from kyphos.registry.repository import Registry

    dataset = load_dataset(site=site)
    registry = Registry.open()
    result = compute_report(
        dataset, site=site, demo=registry.is_demo(), references=installed_cohorts(registry)
    )
    content: str | bytes
    if chosen == "json":
        from kyphos.analysis.report.render_json import report_dict

        content = json.dumps(report_dict(result), ensure_ascii=False, indent=2) + "\n"
    elif chosen == "md":
        import kyphos.analysis.report.render_md as render_md

        content = render_md.render(result, dataset, language)
    elif chosen == "html":
        import kyphos.analysis.report.render_html as render_html

        content = render_html.render(result, dataset, language)
    elif chosen == "docx":
        import kyphos.analysis.report.render_docx as render_docx

        content = render_docx.render(result, dataset, language)
    else:
        import kyphos.analysis.report.render_csv as render_csv

        render_csv.write(result, dataset, language, target)
        typer.echo(f"report tables written to {target}/")
        return
    if out == "-":
        sys.stdout.write(content if isinstance(content, str) else content.decode("utf-8"))
        return
    try:
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    except OSError as error:
        raise KyphosError(f"{target}: cannot write the report ({error.strerror})") from None
    typer.echo(f"report written to {target}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
