"""Imaging commands of the ``kyphos`` CLI: ``radiograph add`` and ``measurements recompute``.

The CLI acts as the local administrator, like the other registry commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

radiograph_app = typer.Typer(help="Radiographs of the registry's patients.", no_args_is_help=True)
measurements_app = typer.Typer(help="Radiographic measurements.", no_args_is_help=True)


@radiograph_app.command("add")
def radiograph_add(
    patient: Annotated[str, typer.Argument(help="The patient's study code.")],
    timepoint: Annotated[str, typer.Argument(help="The visit's time point (preop, postop …).")],
    file: Annotated[Path, typer.Argument(help="A DICOM, PNG or JPEG file.")],
    view: Annotated[str, typer.Option(help="lateral or ap.")] = "lateral",
) -> None:
    """De-identify a radiograph in memory and store it at the patient's visit."""
    from kyphos import imaging
    from kyphos.errors import KyphosError
    from kyphos.registry import radiographs
    from kyphos.registry.access import Principal
    from kyphos.registry.repository import LOCAL_ADMIN, Registry

    try:
        size = file.stat().st_size
    except OSError as error:
        raise KyphosError(f"{file}: cannot read ({error.strerror})") from None
    if size > imaging.MAX_UPLOAD_BYTES:
        raise KyphosError(
            f"{file}: {size / 2**20:.1f} MB is over the upload limit of "
            f"{imaging.MAX_UPLOAD_BYTES // 2**20} MB; nothing was stored"
        )
    data = file.read_bytes()
    registry = Registry.open()
    admin = Principal(user_id=0, username=LOCAL_ADMIN, role="admin", site_ids=frozenset())
    added = radiographs.add_radiograph(
        registry, admin, patient, timepoint, data, filename=file.name, view=view
    )
    spacing = (
        f"{added.spacing_mm[0]:g} × {added.spacing_mm[1]:g} mm/pixel ({added.spacing_source})"
        if added.spacing_mm
        else "not calibrated (calibrate in the annotator: two clicks on a known length)"
    )
    typer.echo(
        f"radiograph {added.id} added to {added.study_code} {added.timepoint}: "
        f"{added.width} × {added.height} {added.kind}, spacing {spacing}"
    )
    if (added.burned_in_annotation or "").upper() == "YES":
        typer.echo(
            "warning: the file says text is burned into the pixels; check it shows no identity",
            err=True,
        )


@measurements_app.command("recompute")
def measurements_recompute() -> None:
    """Recompute every measurement that has landmarks (after a formula correction)."""
    from kyphos.registry import radiographs
    from kyphos.registry.repository import Registry

    report = radiographs.recompute(Registry.open())
    typer.echo(f"measurements with landmarks: {report.checked}, changed: {report.changed}")
    for problem in report.problems:
        typer.echo(f"not recomputed: {problem}", err=True)


def register(app: typer.Typer) -> None:
    app.add_typer(radiograph_app, name="radiograph")
    app.add_typer(measurements_app, name="measurements")
