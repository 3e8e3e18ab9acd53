"""The study dataset: the registry as tidy, de-identified pandas frames.

``load_dataset()`` reads the registry in bulk (one query per table, no per-patient
queries) and returns a :class:`StudyDataset` for notebooks and for the study report:

* ``patients`` — one row per patient: ``patient`` (an internal number, not the study
  code), site, sex, age (ages above 89 as 90), BMI, BMD T-score, comorbidities, injury
  mechanism, ``follow_up_days`` (index procedure to last dated visit).
* ``vertebrae`` — one row per fractured vertebra: level, MRI acuity (derived by
  :func:`kyphos.clinical.fracture.mri_acuity`), posterior wall, morphology, treated,
  technique, approach, cement volume, ``leakage`` (``;``-list, empty = none),
  symptomatic leakage, ``procedure_day``.
* ``visits`` — one row per recorded visit: time point as keyed, ``day`` from the index
  procedure, VAS, ODI raw / answered / percent (scored by
  :func:`kyphos.clinical.odi.score_array`).
* ``measurements`` — every reading: vertebra, time point, observer, role, values.
* ``events`` — adverse events with ``day`` from the index procedure.

The unit of analysis is explicit: :meth:`StudyDataset.patient_outcomes` gives VAS and
ODI per patient and protocol time point; :meth:`StudyDataset.vertebra_outcomes` the
radiographic values per treated vertebra and time point — the adjudicator's reading
when there is one, else the mean of the primary readings (DATA.md §2). ``final`` is the
visit keyed ``final``, else the latest visit at or after the protocol's final window
start.

No dates, names or codes leave this module: days are offsets from the index procedure.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from kyphos.clinical import fracture, odi
from kyphos.clinical.protocol import FINAL, Protocol
from kyphos.registry import frames

DAYS_PER_MONTH = 30.4375
MAX_AGE = 90
"""Ages above 89 are reported as 90 (de-identification; DATA.md)."""

PATIENT_OUTCOMES = ("vas", "odi")
VERTEBRA_OUTCOMES = (
    "anterior_height_mm",
    "middle_height_mm",
    "posterior_height_mm",
    "wedge_angle_deg",
    "kyphotic_angle_deg",
)


@dataclass
class StudyDataset:
    """Tidy frames of one registry (or one site of it) and its visit protocol."""

    protocol: Protocol
    patients: pd.DataFrame
    vertebrae: pd.DataFrame
    visits: pd.DataFrame
    measurements: pd.DataFrame
    events: pd.DataFrame
    odi_max_missing: int = odi.DEFAULT_MAX_MISSING

    @property
    def timepoints(self) -> list[str]:
        return list(self.protocol.keys)

    @cached_property
    def visit_slots(self) -> pd.DataFrame:
        """Which recorded visit stands for each patient and protocol time point."""
        visits = self.visits
        slots = []
        for point in self.protocol.timepoints:
            if point.key == FINAL:
                keyed = visits[visits["timepoint"] == FINAL]
                late = visits[
                    (visits["timepoint"] != FINAL) & (visits["day"] >= point.window_start)
                ]
                late = late.sort_values(["patient", "day"]).drop_duplicates("patient", keep="last")
                late = late[~late["patient"].isin(keyed["patient"])]
                chosen = pd.concat([keyed, late])
            else:
                chosen = visits[visits["timepoint"] == point.key]
            slots.append(chosen.assign(slot=point.key)[["patient", "visit", "slot"]])
        if not slots:
            return pd.DataFrame(columns=["patient", "visit", "slot"])
        return pd.concat(slots, ignore_index=True)

    def patient_outcomes(self) -> pd.DataFrame:
        """VAS (cm) and ODI (percent) per patient and protocol time point (long format)."""
        joined = self.visit_slots.merge(
            self.visits[["visit", "vas", "odi_percent"]], on="visit", how="left"
        )
        return joined.rename(columns={"slot": "timepoint", "odi_percent": "odi"})[
            ["patient", "timepoint", "vas", "odi"]
        ]

    def readings(self) -> pd.DataFrame:
        """Every radiographic reading with its protocol time point (a reading of a visit
        that stands for two time points, e.g. m12 and final, appears under both)."""
        visit_slots = self.visit_slots.merge(
            self.visits[["visit", "patient", "timepoint"]], on=["visit", "patient"]
        )
        return self.measurements.merge(
            visit_slots[["patient", "timepoint", "slot"]], on=["patient", "timepoint"]
        )

    def vertebra_outcomes(self) -> pd.DataFrame:
        """Radiographic values per treated vertebra and time point: the adjudicator's
        reading when there is one, else the mean of the primary readings."""
        readings = self.readings()
        treated = self.vertebrae.loc[self.vertebrae["treated"], "vertebra"]
        readings = readings[readings["vertebra"].isin(treated)]
        keys = ["vertebra", "slot"]
        primary = (
            readings[readings["role"] == "primary"]
            .groupby(keys, as_index=False, sort=False)[list(VERTEBRA_OUTCOMES)]
            .mean()
        )
        adjudicated = readings[readings["role"] == "adjudicator"][keys + list(VERTEBRA_OUTCOMES)]
        chosen = pd.concat([adjudicated, primary]).drop_duplicates(keys, keep="first")
        chosen = chosen.sort_values(keys, kind="stable")
        patient_of = self.vertebrae.set_index("vertebra")["patient"]
        chosen.insert(1, "patient", chosen["vertebra"].map(patient_of))
        return chosen.rename(columns={"slot": "timepoint"}).reset_index(drop=True)


def _days(dates: pd.Series, index: pd.Series) -> pd.Series:
    delta = pd.to_datetime(dates) - pd.to_datetime(index)
    return delta.dt.days.astype("Float64")


def build_dataset(
    protocol: Protocol,
    patients: pd.DataFrame,
    vertebrae: pd.DataFrame,
    procedures: pd.DataFrame,
    visits: pd.DataFrame,
    measurements: pd.DataFrame,
    events: pd.DataFrame,
    *,
    odi_max_missing: int = odi.DEFAULT_MAX_MISSING,
) -> StudyDataset:
    """Derive the analysis frames from the registry's raw frames (see :mod:`registry.frames`)."""
    procedure_dates = pd.to_datetime(procedures["procedure_date"])
    index = procedure_dates.groupby(procedures["patient"]).min().rename("index_date")

    visits = visits.merge(index, left_on="patient", right_index=True, how="left")
    visits["day"] = _days(visits["visit_date"], visits["index_date"])
    answers = visits[frames.ODI_COLUMNS].astype("float64").to_numpy()
    scores = odi.score_array(answers.reshape(-1, odi.SECTION_COUNT), max_missing=odi_max_missing)
    visits["odi_raw"] = scores.raw
    visits["odi_answered"] = scores.answered
    visits["odi_percent"] = scores.percent
    visits["vas"] = visits["vas"].astype("float64")
    visits = visits.drop(columns=["visit_date", "index_date"])

    last_day = visits.groupby("patient")["day"].max()
    patients = patients.copy()
    patients["follow_up_days"] = patients["patient"].map(last_day).astype("Float64")
    born = patients["birth_date"].notna() & patients["age"].isna()
    if born.any():
        at = patients.loc[born, "patient"].map(index)
        years = (pd.to_datetime(at) - pd.to_datetime(patients.loc[born, "birth_date"])).dt.days
        patients.loc[born, "age"] = np.floor(years / 365.2425)
    patients["age"] = patients["age"].astype("Float64").clip(upper=MAX_AGE)
    height_m = patients["height_cm"].astype("float64") / 100.0
    patients["bmi"] = patients["weight_kg"].astype("float64") / (height_m * height_m)
    patients = patients.drop(columns=["birth_date"])

    vertebrae = vertebrae.copy()
    signals = vertebrae[["mri_t1", "mri_t2", "mri_stir"]].astype(object)
    signals = signals.where(signals.notna(), None)
    combos = {
        combo: fracture.mri_acuity(*combo).value
        for combo in set(map(tuple, signals.itertuples(index=False, name=None)))
    }
    vertebrae["acuity"] = [combos[tuple(row)] for row in signals.itertuples(index=False)]
    vertebrae["treated"] = vertebrae["treated"].astype(bool)
    vertebrae = vertebrae.merge(index, left_on="patient", right_index=True, how="left")
    vertebrae["procedure_day"] = _days(vertebrae["procedure_date"], vertebrae["index_date"])
    vertebrae = vertebrae.drop(columns=["procedure_date", "index_date"])

    events = events.merge(index, left_on="patient", right_index=True, how="left")
    events["day"] = _days(events["event_date"], events["index_date"])
    events = events.drop(columns=["event_date", "index_date"])

    return StudyDataset(
        protocol=protocol,
        patients=patients.reset_index(drop=True),
        vertebrae=vertebrae.reset_index(drop=True),
        visits=visits.reset_index(drop=True),
        measurements=measurements.reset_index(drop=True),
        events=events.reset_index(drop=True),
        odi_max_missing=odi_max_missing,
    )


def load_dataset(database_url: str | None = None, site: str | None = None) -> StudyDataset:
    """The registry (``KYPHOS_DATABASE_URL`` / ``KYPHOS_HOME`` unless ``database_url``)
    as a :class:`StudyDataset`; ``site`` restricts it to one site's patients."""
    from kyphos.config import get_settings
    from kyphos.errors import NotFoundError
    from kyphos.registry.repository import Registry

    settings = get_settings()
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    registry = Registry.open(settings)
    with registry.read() as session:
        if site is not None and not frames.site_exists(session, site):
            raise NotFoundError(f"site {site!r} does not exist")
        return build_dataset(
            registry.protocol(),
            frames.patients(session, site),
            frames.vertebrae(session, site),
            frames.procedures(session, site),
            frames.visits(session, site),
            frames.measurements(session, site),
            frames.adverse_events(session, site),
        )
