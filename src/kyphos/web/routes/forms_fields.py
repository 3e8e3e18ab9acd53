"""What the record forms show and read: fields, choices, and the live read-outs.

The fields of each form are the fields of :mod:`kyphos.registry.editing` (its
``*_FIELDS`` tables, in their order); this module only says how each one is shown (its
label and widget). Form text goes to the use cases as typed; they validate it through
:mod:`kyphos.clinical` — the one place that knows what a valid value is. The ODI and
MRI-acuity read-outs are computed by :mod:`kyphos.clinical` too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import FormData

from kyphos.clinical import odi
from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors
from kyphos.clinical.fracture import (
    AdverseEventType,
    LeakageSite,
    Morphology,
    MriSignal,
    mri_acuity,
)
from kyphos.clinical.levels import LEVELS
from kyphos.clinical.numbers import format_fixed
from kyphos.clinical.patient import Comorbidity, InjuryMechanism, Sex
from kyphos.clinical.procedure import Anaesthesia, Approach, ObserverRole, Related, Technique
from kyphos.clinical.protocol import Protocol
from kyphos.clinical.values import Labelled
from kyphos.registry import editing
from kyphos.web.i18n import Translate, translator


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues; it is translated where it is shown."""
    return message


Values = dict[str, Any]
"""A form's values as typed: text, or a list of texts for checkboxes."""


@dataclass(frozen=True)
class Field:
    """How one field is shown: its label (an English message id) and widget.

    Widgets: ``text``, ``number``, ``date``, ``textarea``, ``select`` (one of
    ``choices``, or of ``coded``'s members), ``yesno``, ``checkboxes`` (several of
    ``coded``'s members), ``odi`` (an ODI answer 0–5).
    """

    name: str
    label: str
    widget: str = "text"
    coded: type[Labelled] | None = None
    choices: str = ""
    """The name of a choice list the route supplies (levels, time points, sites)."""


def _odi_field(section: odi.Section) -> Field:
    return Field(odi.answer_field(section.number), section.title_en, "odi")


FIELDS: dict[str, Field] = {
    field.name: field
    for field in (
        Field("patient_id", N_("Study code")),
        Field("site", N_("Site"), "select", choices="sites"),
        Field("sex", N_("Sex"), "select", Sex),
        Field("age", N_("Age"), "number"),
        Field("birth_date", N_("Birth date"), "date"),
        Field("height_cm", N_("Height (cm)"), "number"),
        Field("weight_kg", N_("Weight (kg)"), "number"),
        Field("bmd_t_score", N_("BMD T-score"), "number"),
        Field("comorbidities", N_("Comorbidities"), "checkboxes", Comorbidity),
        Field("injury_mechanism", N_("Injury mechanism"), "select", InjuryMechanism),
        Field("injury_date", N_("Injury date"), "date"),
        Field("symptom_onset_date", N_("Symptom onset"), "date"),
        Field("full_name", N_("Name")),
        Field("hospital_number", N_("Hospital number")),
        Field("phone", N_("Phone")),
        Field("level", N_("Level"), "select", choices="levels"),
        Field("mri_t1", N_("MRI T1 signal"), "select", MriSignal),
        Field("mri_t2", N_("MRI T2 signal"), "select", MriSignal),
        Field("mri_stir", N_("MRI STIR signal"), "select", MriSignal),
        Field("posterior_wall_intact", N_("Posterior wall intact"), "yesno"),
        Field("morphology", N_("Morphology"), "select", Morphology),
        Field("treated", N_("Treated"), "yesno"),
        Field("procedure_date", N_("Procedure date"), "date"),
        Field("anaesthesia", N_("Anaesthesia"), "select", Anaesthesia),
        Field("operator", N_("Operator")),
        Field("technique", N_("Technique"), "select", Technique),
        Field("approach", N_("Approach"), "select", Approach),
        Field("cement_volume_ml", N_("Cement (mL)"), "number"),
        Field("leakage", N_("Leakage"), "checkboxes", LeakageSite),
        Field("leakage_symptomatic", N_("Symptomatic leakage"), "yesno"),
        Field("duration_min", N_("Duration (min)"), "number"),
        Field("timepoint", N_("Time point"), "select", choices="timepoints"),
        Field("visit_date", N_("Visit date"), "date"),
        Field("vas", N_("VAS (cm)"), "number"),
        *(_odi_field(section) for section in odi.SECTIONS),
        Field("observer", N_("Observer")),
        Field("role", N_("Reading role"), "select", ObserverRole),
        Field("anterior_height_mm", N_("Anterior (mm)"), "number"),
        Field("middle_height_mm", N_("Middle (mm)"), "number"),
        Field("posterior_height_mm", N_("Posterior (mm)"), "number"),
        Field("wedge_angle_deg", N_("Wedge angle (°)"), "number"),
        Field("kyphotic_angle_deg", N_("Kyphotic angle (°)"), "number"),
        Field("event_date", N_("Event date"), "date"),
        Field("type", N_("Event type"), "select", AdverseEventType),
        Field("serious", N_("Serious"), "yesno"),
        Field("related", N_("Related to the procedure"), "select", Related),
        Field("description", N_("Description"), "textarea"),
    )
}

_NOT_ON_FORMS = frozenset({"odi_version", "odi_language"})
"""Kept as stored (the instrument version and language of the answers)."""

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "patients": (
        "site",
        *(name for name in editing.PATIENT_FIELDS),
    ),
    "vertebrae": tuple(editing.VERTEBRA_FIELDS),
    "procedures": tuple(editing.PROCEDURE_FIELDS),
    "visits": tuple(name for name in editing.VISIT_FIELDS if name not in _NOT_ON_FORMS),
    "measurements": tuple(editing.MEASUREMENT_FIELDS),
    "adverse-events": tuple(editing.ADVERSE_EVENT_FIELDS),
}
"""The fields of each form (besides a patient's identity and a procedure's levels)."""
IDENTITY = tuple(editing.IDENTITY_FIELDS)
LEVEL_FIELDS = tuple(editing.TREATED_LEVEL_FIELDS)

KIND_TITLES = {
    "patients": N_("Patient"),
    "vertebrae": N_("Vertebra"),
    "procedures": N_("Procedure"),
    "visits": N_("Visit"),
    "measurements": N_("Measurement"),
    "adverse-events": N_("Adverse event"),
}


def fields(names: Iterable[str]) -> list[Field]:
    return [FIELDS[name] for name in names]


def choices(
    field: Field, lang: str, lists: Mapping[str, Sequence[tuple[str, str]]]
) -> list[tuple[str, str]]:
    """(value, label) of a select or checkbox field, labels in ``lang``."""
    if field.widget == "yesno":
        return [("yes", "yes"), ("no", "no")]
    if field.widget == "odi":
        return [(str(n), str(n)) for n in range(odi.MAX_ANSWER + 1)]
    if field.coded is not None:
        return [(member.value, member.label(lang)) for member in field.coded]
    return list(lists.get(field.choices, ()))


def choice_lists(
    protocol: Protocol, lang: str, sites: Sequence[tuple[str, str]]
) -> dict[str, list[tuple[str, str]]]:
    """The choice lists that depend on the registry and the user."""
    return {
        "levels": [(level, level) for level in LEVELS],
        "timepoints": [(point.key, point.label(lang)) for point in protocol.timepoints],
        "sites": [(code, f"{code} · {name}") for code, name in sites],
    }


def label(field: Field, translate: Translate, lang: str) -> str:
    """The label of ``field`` in ``lang`` (an ODI section: number and title)."""
    if field.widget == "odi":
        number = int(field.name.removeprefix("odi_"))
        return f"{number}. {odi.SECTIONS[number - 1].title(lang)}"
    return translate(field.label)


# --- values: stored record → form text; form text → use-case values ------------------------


def shown(value: object) -> str | list[str]:
    """A stored value as a form shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [str(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def record_values(record: Mapping[str, Any], names: Iterable[str]) -> Values:
    """The form values of a stored record (identity and levels flattened)."""
    values: Values = {name: shown(record.get(name)) for name in names}
    identity = record.get("identity") or {}
    values.update({name: shown(identity.get(name)) for name in IDENTITY if identity})
    for position, level in enumerate(record.get("levels") or []):
        values.update(
            {f"levels-{position}-{name}": shown(level.get(name)) for name in LEVEL_FIELDS}
        )
    return values


def typed_values(form: FormData, names: Iterable[str], multiple: Iterable[str] = ()) -> Values:
    """The values typed into a posted form, as typed (for the use case and a re-render)."""
    several = set(multiple)
    return {
        name: [str(item) for item in form.getlist(name)]
        if name in several
        else str(form.get(name, "") or "")
        for name in names
    }


def level_rows(form: FormData) -> list[Values]:
    """A procedure form's treated levels (``levels-<i>-<field>``), blank rows left out, in
    the order of their numbers."""
    numbers = sorted(
        {
            int(found.group(1))
            for key in form
            if (found := re.fullmatch(r"levels-([0-9]{1,4})-[a-z_]+", key))
        }
    )
    rows = []
    for number in numbers:
        row = {
            name: [str(v) for v in form.getlist(f"levels-{number}-{name}")]
            if FIELDS[name].widget == "checkboxes"
            else str(form.get(f"levels-{number}-{name}", "") or "")
            for name in LEVEL_FIELDS
        }
        if any(row.values()):
            rows.append(row)
    return rows


def flatten_levels(rows: Sequence[Mapping[str, Any]]) -> Values:
    """Level rows as form values ``levels-<i>-<field>``, numbered from 0."""
    return {
        f"levels-{position}-{name}": value
        for position, row in enumerate(rows)
        for name, value in row.items()
    }


def level_count(values: Mapping[str, Any]) -> int:
    numbers = [
        int(found.group(1))
        for key in values
        if (found := re.fullmatch(r"levels-([0-9]+)-[a-z_]+", key))
    ]
    return max(numbers, default=-1) + 1


def for_use_case(values: Mapping[str, Any], names: Iterable[str]) -> dict[str, object]:
    """The typed ``names`` for a use case: blank text is no value."""
    return {name: _blank_to_none(values.get(name, "")) for name in names}


def _blank_to_none(value: object) -> object:
    if isinstance(value, str):
        return value if value.strip() else None
    return value


def field_id(field: str) -> str:
    """The form element of a use case's field name (``levels[0].level`` → ``levels-0-level``,
    ``identity.phone`` → ``phone``)."""
    name = field.removeprefix("identity.")
    return re.sub(r"\[([0-9]+)\]\.?", r"-\1-", name).rstrip("-")


def problems_of(error: ClinicalValueError) -> list[ClinicalValueError]:
    return list(error.problems) if isinstance(error, ClinicalValueErrors) else [error]


# --- live read-outs -------------------------------------------------------------------------


def odi_readout(raw: Mapping[str, str], lang: str) -> dict[str, Any]:
    """The ODI of typed answers (``odi_1`` … ``odi_10``) as the visit form shows it.

    ``percent`` at full precision and ``percent_text`` rounded for display (half away
    from zero, one decimal); when there is no score, ``reason`` says why. Invalid
    answers raise :class:`ClinicalValueErrors`, each located at its field.
    """
    answers: list[int | None] = []
    problems: list[ClinicalValueError] = []
    for section in range(1, odi.SECTION_COUNT + 1):
        try:
            answers.append(odi.parse_answer(raw.get(odi.answer_field(section)), section))
        except ClinicalValueError as error:
            problems.append(error)
            answers.append(None)
    ClinicalValueErrors.raise_if_any(problems)
    answered = sum(answer is not None for answer in answers)
    readout: dict[str, Any] = {
        "answered": answered,
        "raw": None,
        "percent": None,
        "percent_text": "",
        "band": None,
        "band_label": "",
        "reason": None,
    }
    if answered == 0:
        return readout
    try:
        result = odi.score(answers)
    except ClinicalValueError as error:
        readout["reason"] = error.text(lang)
        return readout
    readout.update(
        raw=result.raw,
        percent=result.percent,
        percent_text=format_fixed(result.percent, 1),
        band=result.band,
        band_label=odi.band_label(result.band, lang),
    )
    return readout


def _signal_text(value: object) -> str | None:
    text = "" if value is None else str(value)
    return text if text.strip() else None


def acuity_readout(t1: object, t2: object, stir: object, lang: str) -> dict[str, str]:
    """The MRI acuity verdict (CLINICAL.md §6) of typed signals, and its label in ``lang``."""
    verdict = mri_acuity(_signal_text(t1), _signal_text(t2), _signal_text(stir))
    return {"acuity": verdict.value, "label": verdict.label(lang)}


def field_label(where: str, _: Translate, lang: str) -> str:
    """The label of a form element named by :func:`field_id` (a level row's: with its number)."""
    parts = where.split("-")
    if len(parts) == 3 and parts[0] == "levels" and parts[2] in FIELDS:
        row = _("Treated level {number}").format(number=int(parts[1]) + 1)
        return f"{row} · {label(FIELDS[parts[2]], _, lang)}"
    if where in FIELDS:
        return label(FIELDS[where], _, lang)
    return where


def display(
    spec: Field, value: object, lang: str, lists: Mapping[str, Sequence[tuple[str, str]]]
) -> str:
    """A stored value in words (coded values by their labels), for the stale-edit notes."""
    if value in (None, "", []):
        return "—"
    labels = dict(choices(spec, lang, lists))
    if isinstance(value, list):
        return ", ".join(labels.get(str(item), str(item)) for item in value)
    if spec.widget == "yesno":
        return translator(lang)(str(value))
    return labels.get(str(value), str(value))


def odi_or_none(values: Mapping[str, Any], lang: str) -> dict[str, Any] | None:
    """The ODI read-out of a form's values; None while an answer is invalid."""
    try:
        return odi_readout(values, lang)
    except ClinicalValueError:
        return None


def acuity_or_none(values: Mapping[str, Any], lang: str) -> dict[str, str] | None:
    """The acuity read-out of a form's values; None while a signal is invalid."""
    try:
        return acuity_readout(
            values.get("mri_t1"), values.get("mri_t2"), values.get("mri_stir"), lang
        )
    except ClinicalValueError:
        return None
