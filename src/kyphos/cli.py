"""The ``kyphos`` command line.

Thin: parse input, call the clinical layer or a use case, present the result.
A user error prints one line per problem on stderr and exits 2; nothing a user
types produces a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from kyphos import __version__
from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.errors import KyphosError

app = typer.Typer(
    name="kyphos",
    help="Outcomes registry and analysis workbench for vertebral augmentation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

LangOption = Annotated[
    str,
    typer.Option("--lang", help="Output language: en or zh (default: KYPHOS_LANG or en)."),
]


def output_language(lang: str | None) -> str:
    chosen = (lang or os.environ.get("KYPHOS_LANG") or "en").strip().lower()
    if chosen not in ("en", "zh"):
        raise ClinicalValueError("--lang", f"{chosen!r} is not a language kyphos speaks (en, zh)")
    return chosen


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kyphos {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Outcomes registry and analysis workbench for vertebral augmentation."""


@app.command()
def tour(lang: LangOption = "") -> None:
    """Walk through the clinical core on the published reference cases."""
    from kyphos.tour import render_tour

    typer.echo(render_tour(output_language(lang)))


def _register_areas() -> None:
    from kyphos import cli_evidence, cli_imaging, cli_registry, cli_report, cli_web

    cli_registry.register(app)
    cli_report.register(app)
    cli_evidence.register(app)
    cli_web.register(app)
    cli_imaging.register(app)


_register_areas()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script: user errors become located lines and exit 2."""
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, standalone_mode=False, prog_name="kyphos")
    except typer.Abort:
        print("error: aborted", file=sys.stderr)
        sys.exit(1)
    except typer.TyperException as usage:
        # Usage errors of the command line itself (unknown option, value out of range).
        message = " ".join(str(getattr(usage, "format_message", usage.__str__)()).split())
        if not message:  # a command group called alone: its help was the answer
            sys.exit(0)
        context = getattr(usage, "ctx", None)
        command = getattr(context, "command_path", None) or "kyphos"
        print(f"error: {message} (see `{command} --help`)", file=sys.stderr)
        sys.exit(int(getattr(usage, "exit_code", 2)))
    except (KyphosError, ClinicalValueError) as failure:
        for line in _problem_lines(failure):
            print(f"error: {line}", file=sys.stderr)
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)


def _problem_lines(failure: KyphosError | ClinicalValueError) -> list[str]:
    if isinstance(failure, KyphosError):
        return list(failure.problems)
    if isinstance(failure, ClinicalValueErrors):
        return [str(problem) for problem in failure.problems]
    return [str(failure)]
