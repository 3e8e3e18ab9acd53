"""A deterministic synthetic demo cohort, calibrated to the reference study.

The cohort is written as rows of the canonical workbook (DATA.md §1), so the
importer can validate and audit it like any file a site sends. Demo data carry
no identity (no ``identity`` sheet, no birth dates, no names); patients are
coded ``DEMO-000001`` … by :func:`patient_code`.

Reference study: Zhang S, Zhang Z, Liu Y, Zhang L, Li X. Treatment of senile
osteoporotic vertebral compression fractures with percutaneous kyphoplasty.
Zhongguo Gu Shang 2011;24(7):570–3, doi:10.3969/j.issn.1003-0034.2011.07.010
(``reference/seed_study.json``). Calibration, with the default 41 patients:

* Cohort: 10 men and 31 women (in general round(N·10/41) men), ages 61–83 with
  mean ≈ 67.5; 65 treated vertebrae in T9–L4, concentrated at the
  thoracolumbar junction (T11–L2). The paper gives only the total of 65; kyphos
  splits it as 22 patients with one level, 14 with two and 5 with three
  (22 + 28 + 15 = 65). About one patient in ten also has an old, untreated
  fracture (MRI chronic); treated vertebrae are acute (T1 low, T2/STIR high).
  Index procedures between 2008-10-01 and 2010-05-31; follow-up 7–26 months
  (mean 14).
* Exact shares are kept by cumulative rounding over the patients' positions:
  the patients 1…b hold round(b·10/41) men, round(b·19/41) patients with two
  or more levels and round(b·5/41) with three; treated vertebrae 1…t hold
  round(t·7/65) with leakage. A chunk takes the difference of these counts at
  its two ends, so the totals do not depend on how the cohort is chunked (for
  chunks of 3 patients or more), and the default cohort reproduces the paper's
  counts exactly (41, 10/31, 65, 7).
* Procedure: balloon kyphoplasty under local anaesthesia, mostly bipedicular,
  3–6 mL of cement per level; leakage (needle tract, intradiscal, anterior,
  lateral) in 7 of 65 vertebrae, never symptomatic; no adverse events at N = 41
  (one adjacent fracture per 100 patients at larger N, next to a treated level).
* Outcomes at preop / postop (day 5–9) / final, mean ± SD as published:
  VAS 8.38 ± 0.60, 2.45 ± 0.38, 2.53 ± 0.36 cm (one decimal); ODI raw score
  over the nine sections asked (sex life, section 8, was skipped for everyone)
  40.00 ± 1.16, 17.00 ± 2.11, 15.00 ± 1.41, drawn as a whole-number total per
  patient and then spread over the nine answers (each 0–5); anterior height
  14.64 ± 1.30, 25.11 ± 1.12, 23.16 ± 1.14 mm and kyphotic (segmental Cobb)
  angle 30.17 ± 1.45, 12.10 ± 1.37, 14.31 ± 0.51° per treated vertebra.
* Two observers (``obs_a``, ``obs_b``) each read every treated vertebra at every
  time point: the vertebra's true value plus an independent reading error
  (SD 0.6 mm, 0.6°), to one decimal. The paper's values are the mean of its two
  readers, so the true values' SD is set to √(SD² − error²/2 − rounding), and the
  analysed value (the mean of the two readings) has the published SD. The final
  kyphotic angle's SD of 0.51° caps the reading error at 0.51·√2 ≈ 0.72°, which
  is why the angle error is 0.6° and not a more typical 1°.

Streaming: patients are generated in chunks (default 5,000). Each chunk draws
from its own numpy generators, seeded by ``(seed, chunk index, stream)``, one
stream per part of the record (patients, spine, procedures, visits, ODI,
radiographs, events); each sheet's iterator regenerates only the parts it needs,
chunk by chunk, so all sheets agree and memory does not grow with the cohort.
The same ``(patients, seed, chunk)`` always give the same rows. All six sheets
of 100,000 patients take about 2.5–3.5 s on one core (≈ 1.7 million rows).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from kyphos.clinical import levels, odi, protocol
from kyphos.errors import KyphosError
from kyphos.exchange.schema import SHEETS_BY_NAME

if TYPE_CHECKING:
    from kyphos.exchange.importer import ImportReport, Progress
    from kyphos.registry.repository import Registry

__all__ = [
    "DEFAULT_CHUNK",
    "DEFAULT_PATIENTS",
    "DEFAULT_SEED",
    "DEMO_SHEETS",
    "DemoCohort",
    "demo_cohort",
    "load_demo",
    "patient_code",
]

DEFAULT_PATIENTS = 41
DEFAULT_SEED = 2011
DEFAULT_CHUNK = 5000

DEMO_SHEETS: tuple[str, ...] = (
    "patients",
    "vertebrae",
    "procedures",
    "visits",
    "measurements",
    "adverse_events",
)
"""The sheets a demo cohort fills, in import order (no ``identity``: no identity data)."""

CODE_PREFIX = "DEMO-"
CODE_DIGITS = 6

Row = dict[str, object]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

# --- cohort (reference study, N = 41) ------------------------------------------------------

REFERENCE_PATIENTS = 41
REFERENCE_MEN = 10
REFERENCE_TWO_OR_MORE_LEVELS = 19
"""Patients with at least two treated levels (kyphos's split of the paper's 65)."""
REFERENCE_THREE_LEVELS = 5
REFERENCE_TREATED_VERTEBRAE = 65
REFERENCE_LEAKING_VERTEBRAE = 7

MIN_AGE_YEARS = 61
MAX_AGE_YEARS = 83
AGE_GAMMA_SHAPE = 2.5
AGE_GAMMA_SCALE = 2.6
"""Age = 61 + a gamma variate (rounded, capped at 83): mean 67.5, SD ≈ 4 years."""

ENROLMENT_FIRST = date(2008, 10, 1)
ENROLMENT_LAST = date(2010, 5, 31)

TREATED_LEVELS: tuple[str, ...] = tuple(levels.expand_range("T9-L4"))
LEVEL_WEIGHTS: tuple[float, ...] = (0.05, 0.07, 0.16, 0.26, 0.24, 0.12, 0.06, 0.04)
"""Relative frequency of T9, T10, … L4: most fractures at the thoracolumbar junction."""
UNTREATED_FRACTURE_SHARE = 0.10
"""Patients who also have an old (chronic) fracture that was not treated."""

COMORBIDITY_SHARES: tuple[tuple[str, float], ...] = (
    ("chronic_bronchitis", 0.12),
    ("coronary_heart_disease", 0.22),
    ("diabetes", 0.18),
    ("hypertension", 0.45),
)
INJURY_MECHANISMS: tuple[tuple[str, float], ...] = (
    ("fall_walking", 0.45),
    ("lifting", 0.20),
    ("vehicle_jolt", 0.10),
    ("twist_or_sit", 0.25),
)
INJURY_TO_PROCEDURE_DAYS = (2, 28)

# --- procedure -----------------------------------------------------------------------------

BIPEDICULAR_SHARE = 0.85
CEMENT_ML = (4.5, 0.7)
CEMENT_ML_RANGE = (3.0, 6.0)
DURATION_MIN = (38.0, 8.0)
DURATION_MIN_RANGE = (20, 80)
OPERATORS: tuple[tuple[str, float], ...] = (("op_a", 0.6), ("op_b", 0.4))
LEAKAGE_SITES: tuple[tuple[str, float], ...] = (
    ("anterior", 2 / 7),
    ("intradiscal", 3 / 7),
    ("lateral", 1 / 7),
    ("needle_tract", 1 / 7),
)
ADJACENT_FRACTURES_PER_PATIENT = (1, 100)
"""One adjacent fracture per 100 patients (none in a cohort of 41, as in the paper)."""

# --- visits and outcomes -------------------------------------------------------------------

TIMEPOINTS: tuple[str, ...] = (protocol.PREOP, protocol.POSTOP, protocol.FINAL)
PREOP_DAYS_BEFORE = (0, 3)
POSTOP_DAY = (5, 9)
FOLLOW_UP_MONTHS = (7, 26)
FOLLOW_UP_BETA = (2.0, 3.43)
"""Final visit at 7 + 19·Beta(2, 3.43) months: mean 14 months, as published."""
DAYS_PER_MONTH = float(protocol.DAYS_PER_MONTH)
MIN_FINAL_DAY = math.ceil(FOLLOW_UP_MONTHS[0] * DAYS_PER_MONTH)
MAX_FINAL_DAY = math.floor(FOLLOW_UP_MONTHS[1] * DAYS_PER_MONTH)

ODI_LANGUAGE = "zh"
ANSWERED_SECTIONS: tuple[int, ...] = tuple(
    section.number for section in odi.SECTIONS if section.number != odi.SEX_LIFE_SECTION
)
ODI_SECTION_OFFSETS: tuple[float, ...] = (0.4, -0.6, 0.7, 0.1, -0.1, 0.3, -0.4, -0.1, 0.2)
"""How far each answered section sits from the patient's average answer (sections 1–7, 9,
10): lifting and pain are worse than personal care and sleep."""
ODI_MAX_RAW = odi.MAX_ANSWER * len(ANSWERED_SECTIONS)

OBSERVERS: tuple[str, ...] = ("obs_a", "obs_b")
OBSERVER_ROLE = "primary"
HEIGHT_READING_SD_MM = 0.6
ANGLE_READING_SD_DEG = 0.6
POSTERIOR_HEIGHT_MM = (28.5, 0.6)
POSTERIOR_HEIGHT_RANGE_MM = (27.0, 30.0)
BODY_DEPTH_MM = (32.0, 2.0)
MIDDLE_HEIGHT_FRACTION = (0.45, 0.65)
"""Middle height = anterior + f·(posterior − anterior), f uniform in this range."""
TIME_CORRELATION = (0.3, 0.6)
"""Correlation of a patient's (vertebra's) value preop→postop and postop→final."""
ONE_DECIMAL_VARIANCE = 0.01 / 12
"""Variance added by rounding to one decimal (uniform error over ±0.05)."""
WHOLE_NUMBER_VARIANCE = 1 / 12
"""Variance added by rounding to a whole number."""


@dataclass(frozen=True)
class Moments:
    """A published mean and SD."""

    mean: float
    sd: float


VAS_CM = {
    protocol.PREOP: Moments(8.38, 0.60),
    protocol.POSTOP: Moments(2.45, 0.38),
    protocol.FINAL: Moments(2.53, 0.36),
}
ODI_RAW = {
    protocol.PREOP: Moments(40.00, 1.16),
    protocol.POSTOP: Moments(17.00, 2.11),
    protocol.FINAL: Moments(15.00, 1.41),
}
ANTERIOR_HEIGHT_MM = {
    protocol.PREOP: Moments(14.64, 1.30),
    protocol.POSTOP: Moments(25.11, 1.12),
    protocol.FINAL: Moments(23.16, 1.14),
}
KYPHOTIC_ANGLE_DEG = {
    protocol.PREOP: Moments(30.17, 1.45),
    protocol.POSTOP: Moments(12.10, 1.37),
    protocol.FINAL: Moments(14.31, 0.51),
}

_STREAMS = ("patients", "spine", "procedures", "visits", "odi", "radiographs", "events")
_EPOCH = np.datetime64(ENROLMENT_FIRST.isoformat(), "D")
_ENROLMENT_DAYS = (ENROLMENT_LAST - ENROLMENT_FIRST).days
_FIRST_LEVEL = levels.level_index(TREATED_LEVELS[0])


# --- public API ----------------------------------------------------------------------------


def patient_code(index: int) -> str:
    """The study code of the ``index``-th demo patient, counting from 1 (1 → ``DEMO-000001``).

    Six digits, more from the millionth patient on (``DEMO-1000000``).
    """
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or index < 1:
        raise ValueError(f"patient index {index!r} is not a whole number from 1")
    return f"{CODE_PREFIX}{int(index):0{CODE_DIGITS}d}"


@dataclass(frozen=True)
class DemoCohort:
    """A synthetic cohort of ``patients`` patients, the same for the same ``seed``.

    :meth:`rows` streams one sheet of the canonical workbook; nothing is kept
    between calls, so a cohort of a million patients costs no more memory than
    one chunk of ``chunk`` patients.
    """

    patients: int = DEFAULT_PATIENTS
    seed: int = DEFAULT_SEED
    chunk: int = DEFAULT_CHUNK

    def __post_init__(self) -> None:
        for name, low in (("patients", 1), ("seed", 0), ("chunk", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"demo {name} must be a whole number from {low}, got {value!r}")

    @property
    def chunks(self) -> int:
        """How many chunks the cohort is generated in."""
        return -(-self.patients // self.chunk)

    def rows(self, sheet: str) -> Iterator[Row]:
        """The rows of ``sheet``, patient by patient, as a workbook cell would hold them.

        Keys are exactly the sheet's columns (``kyphos.exchange.schema``), None
        where not recorded; values are str, int, float or None.
        """
        builder = _BUILDERS.get(sheet)
        if builder is None:
            hint = " (demo data carry no identity)" if sheet == "identity" else ""
            raise ValueError(
                f"{sheet!r} is not a demo sheet{hint}: use one of {', '.join(DEMO_SHEETS)}"
            )
        return self._stream(builder, SHEETS_BY_NAME[sheet].column_names)

    def row_counts(self) -> dict[str, int]:
        """Generate every sheet and count its rows (a benchmark of the whole job)."""
        return {sheet: sum(1 for _ in self.rows(sheet)) for sheet in DEMO_SHEETS}

    def _stream(self, builder: _Builder, names: tuple[str, ...]) -> Iterator[Row]:
        for index in range(self.chunks):
            first = index * self.chunk
            chunk = _Chunk(self.seed, index, first, min(self.chunk, self.patients - first))
            columns = builder(chunk)
            ordered = [columns[name] for name in names]
            for values in zip(*ordered, strict=True):
                # One value per name by construction; strict=True here costs ~10 %.
                yield dict(zip(names, values))  # noqa: B905
            del chunk, columns, ordered  # free this chunk before drawing the next


def demo_cohort(
    patients: int = DEFAULT_PATIENTS, seed: int = DEFAULT_SEED, chunk: int = DEFAULT_CHUNK
) -> DemoCohort:
    """The demo cohort of ``patients`` patients drawn with ``seed`` (see the module docstring)."""
    return DemoCohort(patients=patients, seed=seed, chunk=chunk)


# --- one chunk of patients -----------------------------------------------------------------


@dataclass(frozen=True)
class _Patients:
    male: BoolArray
    age: IntArray
    height_cm: IntArray
    weight_kg: FloatArray
    bmd_t_score: FloatArray
    comorbidities: list[str]
    injury_mechanism: list[str]
    index_day: IntArray
    """Day of the index procedure, counted from ENROLMENT_FIRST."""
    injury_day: IntArray
    onset_day: IntArray


@dataclass(frozen=True)
class _Spine:
    fractured: BoolArray
    """(patients, levels of TREATED_LEVELS): the patient has a fracture there."""
    treated: BoolArray
    vertebra_patient: IntArray
    vertebra_level: IntArray
    vertebra_treated: BoolArray
    treated_patient: IntArray
    treated_level: IntArray
    treated_before: int
    """Treated vertebrae of the patients before this chunk (for the leakage quota)."""


@dataclass(frozen=True)
class _Visits:
    days: IntArray
    """(patients, 3): visit day of preop, postop, final, counted from ENROLMENT_FIRST."""
    vas_cm: FloatArray
    """(patients, 3)."""


@dataclass(frozen=True)
class _Readings:
    """(treated vertebrae, 3 time points, 2 observers) readings, one decimal."""

    anterior_mm: FloatArray
    middle_mm: FloatArray
    posterior_mm: FloatArray
    wedge_deg: FloatArray
    kyphotic_deg: FloatArray


@dataclass(frozen=True)
class _Events:
    patient: list[int]
    day: list[int]
    level: list[str]


class _Chunk:
    """Patients ``first`` … ``first + count − 1`` (0-based), drawn part by part on demand."""

    def __init__(self, seed: int, index: int, first: int, count: int) -> None:
        self.seed = seed
        self.index = index
        self.first = first
        self.count = count

    def _rng(self, stream: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.index, _STREAMS.index(stream)])

    def _quota(self, share: tuple[int, int]) -> int:
        return _cumulative(self.first + self.count, share) - _cumulative(self.first, share)

    @cached_property
    def codes(self) -> NDArray[np.object_]:
        return np.array(
            [patient_code(self.first + offset + 1) for offset in range(self.count)], dtype=object
        )

    @cached_property
    def patients(self) -> _Patients:
        rng = self._rng("patients")
        n = self.count
        male = np.zeros(n, dtype=bool)
        male[rng.permutation(n)[: self._quota((REFERENCE_MEN, REFERENCE_PATIENTS))]] = True
        extra_years = np.rint(rng.gamma(AGE_GAMMA_SHAPE, AGE_GAMMA_SCALE, n))
        age = MIN_AGE_YEARS + np.minimum(extra_years, MAX_AGE_YEARS - MIN_AGE_YEARS)
        height = np.where(male, rng.normal(165.0, 6.0, n), rng.normal(154.0, 5.5, n))
        weight = np.where(male, rng.normal(63.0, 8.5, n), rng.normal(55.0, 7.5, n))
        bmd = rng.normal(-3.1, 0.6, n)
        has = np.stack([rng.random(n) < share for _, share in COMORBIDITY_SHARES], axis=1)
        mask = has @ (1 << np.arange(len(COMORBIDITY_SHARES)))
        mechanism = rng.choice(len(INJURY_MECHANISMS), n, p=_probabilities(INJURY_MECHANISMS))
        index_day = rng.integers(0, _ENROLMENT_DAYS, n, endpoint=True)
        low, high = INJURY_TO_PROCEDURE_DAYS
        injury_day = index_day - rng.integers(low, high, n, endpoint=True)
        onset_day = injury_day + rng.integers(0, 1, n, endpoint=True)
        return _Patients(
            male=male,
            age=age.astype(np.int64),
            height_cm=np.clip(np.rint(height), 135, 185).astype(np.int64),
            weight_kg=np.clip(np.round(weight, 1), 35.0, 95.0),
            bmd_t_score=np.clip(np.round(bmd, 1), -5.5, -2.5),
            comorbidities=_COMORBIDITY_CELLS[mask].tolist(),
            injury_mechanism=_MECHANISM_CELLS[mechanism].tolist(),
            index_day=index_day,
            injury_day=injury_day,
            onset_day=onset_day,
        )

    @cached_property
    def spine(self) -> _Spine:
        rng = self._rng("spine")
        n = self.count
        two_or_more = self._quota((REFERENCE_TWO_OR_MORE_LEVELS, REFERENCE_PATIENTS))
        three = min(self._quota((REFERENCE_THREE_LEVELS, REFERENCE_PATIENTS)), two_or_more)
        treated_count = np.ones(n, dtype=np.int64)
        order = rng.permutation(n)
        treated_count[order[:two_or_more]] = 2
        treated_count[order[:three]] = 3
        untreated = rng.random(n) < UNTREATED_FRACTURE_SHARE
        # Weighted sampling without replacement (Gumbel top-k): rank the levels of each
        # patient by log(weight) + Gumbel noise; the first k are treated, the next one is
        # the old fracture of patients who have one.
        keys = np.log(np.asarray(LEVEL_WEIGHTS)) + rng.gumbel(size=(n, len(TREATED_LEVELS)))
        rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
        treated = rank < treated_count[:, None]
        fractured = treated | (untreated[:, None] & (rank == treated_count[:, None]))
        vertebra_patient, vertebra_level = np.nonzero(fractured)
        treated_patient, treated_level = np.nonzero(treated)
        before = (
            self.first
            + _cumulative(self.first, (REFERENCE_TWO_OR_MORE_LEVELS, REFERENCE_PATIENTS))
            + _cumulative(self.first, (REFERENCE_THREE_LEVELS, REFERENCE_PATIENTS))
        )
        return _Spine(
            fractured=fractured,
            treated=treated,
            vertebra_patient=vertebra_patient.astype(np.int64),
            vertebra_level=vertebra_level.astype(np.int64),
            vertebra_treated=treated[vertebra_patient, vertebra_level],
            treated_patient=treated_patient.astype(np.int64),
            treated_level=treated_level.astype(np.int64),
            treated_before=before,
        )

    @cached_property
    def visits(self) -> _Visits:
        rng = self._rng("visits")
        n = self.count
        index_day = self.patients.index_day
        preop = index_day - rng.integers(*PREOP_DAYS_BEFORE, n, endpoint=True)
        postop = index_day + rng.integers(*POSTOP_DAY, n, endpoint=True)
        low, high = FOLLOW_UP_MONTHS
        months = low + (high - low) * rng.beta(*FOLLOW_UP_BETA, n)
        final_offset = np.clip(np.rint(months * DAYS_PER_MONTH), MIN_FINAL_DAY, MAX_FINAL_DAY)
        final = index_day + final_offset.astype(np.int64)
        vas = _over_time(rng, n, VAS_CM, added_variance=ONE_DECIMAL_VARIANCE)
        return _Visits(
            days=np.stack([preop, postop, final], axis=1),
            vas_cm=np.clip(np.round(vas, 1), 0.0, 10.0),
        )

    @cached_property
    def odi_answers(self) -> IntArray:
        """(patients, 3 time points, 9 answered sections)."""
        rng = self._rng("odi")
        n = self.count
        # Whole-number totals: rounding adds a variance of 1/12, taken off the drawn SD.
        raw = _over_time(rng, n, ODI_RAW, added_variance=WHOLE_NUMBER_VARIANCE)
        totals = np.clip(np.rint(raw), 0, ODI_MAX_RAW)
        flat = _spread_over_sections(totals.astype(np.int64).reshape(-1), rng)
        return flat.reshape(n, len(TIMEPOINTS), len(ANSWERED_SECTIONS))

    @cached_property
    def procedures(self) -> dict[str, list[Any]]:
        rng = self._rng("procedures")
        spine = self.spine
        count = spine.treated_patient.size
        leaking = _cumulative(
            spine.treated_before + count,
            (REFERENCE_LEAKING_VERTEBRAE, REFERENCE_TREATED_VERTEBRAE),
        ) - _cumulative(
            spine.treated_before, (REFERENCE_LEAKING_VERTEBRAE, REFERENCE_TREATED_VERTEBRAE)
        )
        leakage = np.full(count, "none", dtype=object)
        chosen = rng.choice(count, size=min(leaking, count), replace=False)
        sites = rng.choice(len(LEAKAGE_SITES), size=chosen.size, p=_probabilities(LEAKAGE_SITES))
        leakage[chosen] = _LEAKAGE_CELLS[sites]
        bipedicular = rng.random(count) < BIPEDICULAR_SHARE
        cement = np.clip(np.round(rng.normal(*CEMENT_ML, count), 1), *CEMENT_ML_RANGE)
        duration = np.clip(np.rint(rng.normal(*DURATION_MIN, count)), *DURATION_MIN_RANGE)
        operator = rng.choice(len(OPERATORS), self.count, p=_probabilities(OPERATORS))
        return {
            "approach": np.where(bipedicular, "bipedicular", "unipedicular").tolist(),
            "cement_volume_ml": cement.tolist(),
            "leakage": leakage.tolist(),
            "duration_min": duration.astype(np.int64).tolist(),
            "operator": _OPERATOR_CELLS[operator[spine.treated_patient]].tolist(),
        }

    @cached_property
    def readings(self) -> _Readings:
        rng = self._rng("radiographs")
        count = self.spine.treated_patient.size
        shape = (count, len(TIMEPOINTS), len(OBSERVERS))
        anterior = _over_time(
            rng, count, ANTERIOR_HEIGHT_MM, added_variance=_two_readers(HEIGHT_READING_SD_MM)
        )
        kyphotic = _over_time(
            rng, count, KYPHOTIC_ANGLE_DEG, added_variance=_two_readers(ANGLE_READING_SD_DEG)
        )
        posterior = np.clip(rng.normal(*POSTERIOR_HEIGHT_MM, count), *POSTERIOR_HEIGHT_RANGE_MM)
        depth = np.clip(rng.normal(*BODY_DEPTH_MM, count), 26.0, 38.0)
        fraction = rng.uniform(*MIDDLE_HEIGHT_FRACTION, (count, len(TIMEPOINTS)))
        middle = anterior + fraction * (posterior[:, None] - anterior)

        def read(true: FloatArray, sd: float) -> FloatArray:
            return true[..., None] + rng.normal(0.0, sd, shape)

        anterior_read = read(anterior, HEIGHT_READING_SD_MM)
        middle_read = read(middle, HEIGHT_READING_SD_MM)
        posterior_read = read(
            np.repeat(posterior[:, None], len(TIMEPOINTS), axis=1), HEIGHT_READING_SD_MM
        )
        kyphotic_read = read(kyphotic, ANGLE_READING_SD_DEG)
        wedge_read = np.degrees(np.arctan2(posterior_read - anterior_read, depth[:, None, None]))
        return _Readings(
            anterior_mm=_height(anterior_read),
            middle_mm=_height(middle_read),
            posterior_mm=_height(posterior_read),
            wedge_deg=_angle(wedge_read),
            kyphotic_deg=_angle(kyphotic_read),
        )

    @cached_property
    def events(self) -> _Events:
        rng = self._rng("events")
        count = self._quota(ADJACENT_FRACTURES_PER_PATIENT)
        chosen = np.sort(rng.choice(self.count, size=count, replace=False))
        spine = self.spine
        index_day = self.patients.index_day
        final_day = self.visits.days[:, 2]
        patient: list[int] = []
        day: list[int] = []
        level: list[str] = []
        for position in chosen.tolist():
            treated = np.flatnonzero(spine.treated[position]) + _FIRST_LEVEL
            taken = set((np.flatnonzero(spine.fractured[position]) + _FIRST_LEVEL).tolist())
            candidates = [
                neighbour
                for neighbour in (int(treated.min()) - 1, int(treated.max()) + 1)
                if 0 <= neighbour < len(levels.LEVELS) and neighbour not in taken
            ]
            if not candidates:
                continue
            patient.append(position)
            level.append(levels.LEVELS[candidates[int(rng.integers(len(candidates)))]])
            start = int(index_day[position]) + 30
            day.append(int(rng.integers(start, int(final_day[position]), endpoint=True)))
        return _Events(patient=patient, day=day, level=level)


# --- sheet builders ------------------------------------------------------------------------

_Builder = Callable[[_Chunk], dict[str, Sequence[object]]]


def _patients_sheet(chunk: _Chunk) -> dict[str, Sequence[object]]:
    patients = chunk.patients
    n = chunk.count
    return {
        "patient_id": chunk.codes.tolist(),
        "site": [None] * n,
        "sex": np.where(patients.male, "M", "F").tolist(),
        "age": patients.age.tolist(),
        "birth_date": [None] * n,
        "height_cm": patients.height_cm.tolist(),
        "weight_kg": patients.weight_kg.tolist(),
        "bmd_t_score": patients.bmd_t_score.tolist(),
        "comorbidities": patients.comorbidities,
        "injury_mechanism": patients.injury_mechanism,
        "injury_date": _dates(patients.injury_day),
        "symptom_onset_date": _dates(patients.onset_day),
    }


def _vertebrae_sheet(chunk: _Chunk) -> dict[str, Sequence[object]]:
    spine = chunk.spine
    treated = spine.vertebra_treated
    n = treated.size
    return {
        "patient_id": chunk.codes[spine.vertebra_patient].tolist(),
        "level": _LEVEL_CELLS[spine.vertebra_level].tolist(),
        # Treated vertebrae are acute (oedema: T1 low, T2/STIR high); old ones chronic.
        "mri_t1": np.where(treated, "low", "iso").tolist(),
        "mri_t2": np.where(treated, "high", "iso").tolist(),
        "mri_stir": np.where(treated, "high", "iso").tolist(),
        "posterior_wall_intact": ["yes"] * n,
        "morphology": ["wedge"] * n,
        "treated": np.where(treated, "yes", "no").tolist(),
    }


def _procedures_sheet(chunk: _Chunk) -> dict[str, Sequence[object]]:
    spine = chunk.spine
    n = spine.treated_patient.size
    return {
        "patient_id": chunk.codes[spine.treated_patient].tolist(),
        "level": _LEVEL_CELLS[spine.treated_level].tolist(),
        "procedure_date": _dates(chunk.patients.index_day[spine.treated_patient]),
        "technique": ["kyphoplasty"] * n,
        "anaesthesia": ["local"] * n,
        "leakage_symptomatic": ["no"] * n,
        **chunk.procedures,
    }


def _visits_sheet(chunk: _Chunk) -> dict[str, Sequence[object]]:
    visits = chunk.visits
    rows = chunk.count * len(TIMEPOINTS)
    answers = chunk.odi_answers.reshape(rows, len(ANSWERED_SECTIONS))
    columns: dict[str, Sequence[object]] = {
        "patient_id": np.repeat(chunk.codes, len(TIMEPOINTS)).tolist(),
        "timepoint": list(TIMEPOINTS) * chunk.count,
        "visit_date": _dates(visits.days.reshape(-1)),
        "vas": visits.vas_cm.reshape(-1).tolist(),
        "odi_version": [odi.VERSION] * rows,
        "odi_language": [ODI_LANGUAGE] * rows,
        odi.answer_field(odi.SEX_LIFE_SECTION): [None] * rows,
    }
    for position, section in enumerate(ANSWERED_SECTIONS):
        columns[odi.answer_field(section)] = answers[:, position].tolist()
    return columns


def _measurements_sheet(chunk: _Chunk) -> dict[str, Sequence[object]]:
    spine = chunk.spine
    readings = chunk.readings
    per_vertebra = len(TIMEPOINTS) * len(OBSERVERS)
    rows = spine.treated_patient.size * per_vertebra
    return {
        "patient_id": np.repeat(chunk.codes[spine.treated_patient], per_vertebra).tolist(),
        "level": np.repeat(_LEVEL_CELLS[spine.treated_level], per_vertebra).tolist(),
        "timepoint": np.repeat(TIMEPOINTS, len(OBSERVERS)).tolist() * spine.treated_patient.size,
        "observer": list(OBSERVERS) * (rows // len(OBSERVERS)),
        "role": [OBSERVER_ROLE] * rows,
        "anterior_height_mm": readings.anterior_mm.reshape(-1).tolist(),
        "middle_height_mm": readings.middle_mm.reshape(-1).tolist(),
        "posterior_height_mm": readings.posterior_mm.reshape(-1).tolist(),
        "wedge_angle_deg": readings.wedge_deg.reshape(-1).tolist(),
        "kyphotic_angle_deg": readings.kyphotic_deg.reshape(-1).tolist(),
    }


def _adverse_events_sheet(chunk: _Chunk) -> dict[str, Sequence[object]]:
    events = chunk.events
    n = len(events.patient)
    return {
        "patient_id": chunk.codes[events.patient].tolist(),
        "event_date": _dates(np.asarray(events.day, dtype=np.int64)),
        "type": ["adjacent_fracture"] * n,
        "level": events.level,
        "serious": ["no"] * n,
        "related": ["unknown"] * n,
        "description": ["new fracture next to a treated level (synthetic demo event)"] * n,
    }


_BUILDERS: dict[str, _Builder] = {
    "patients": _patients_sheet,
    "vertebrae": _vertebrae_sheet,
    "procedures": _procedures_sheet,
    "visits": _visits_sheet,
    "measurements": _measurements_sheet,
    "adverse_events": _adverse_events_sheet,
}


# --- helpers -------------------------------------------------------------------------------


def _cumulative(count: int, share: tuple[int, int]) -> int:
    """round(count · numerator / denominator), halves up, in exact integer arithmetic."""
    numerator, denominator = share
    return (2 * count * numerator + denominator) // (2 * denominator)


def _probabilities(table: tuple[tuple[str, float], ...]) -> FloatArray:
    weights = np.array([weight for _, weight in table], dtype=np.float64)
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def _over_time(
    rng: np.random.Generator,
    n: int,
    moments: dict[str, Moments],
    *,
    added_variance: float,
) -> FloatArray:
    """(n, 3) values at preop, postop, final with the published means and SDs.

    The drawn SD leaves room for the variance added later (``added_variance``: by
    rounding, and by averaging two readers' errors) so that the analysed value has
    the published SD. Values of one unit correlate over time (TIME_CORRELATION),
    which leaves each time point's mean and SD unchanged.
    """
    first, second = TIME_CORRELATION
    noise = rng.standard_normal((n, len(TIMEPOINTS)))
    standard = np.empty_like(noise)
    standard[:, 0] = noise[:, 0]
    standard[:, 1] = first * standard[:, 0] + math.sqrt(1 - first**2) * noise[:, 1]
    standard[:, 2] = second * standard[:, 1] + math.sqrt(1 - second**2) * noise[:, 2]
    means = np.array([moments[key].mean for key in TIMEPOINTS])
    sds = np.array([math.sqrt(moments[key].sd ** 2 - added_variance) for key in TIMEPOINTS])
    return np.asarray(means + sds * standard, dtype=np.float64)


def _spread_over_sections(totals: IntArray, rng: np.random.Generator) -> IntArray:
    """Answers (0–5) of the nine sections asked, summing exactly to each raw total (0–45).

    Each answer starts near total/9 plus the section's offset and some noise; then
    answers with room are moved up or down one at a time, at random, until the sum
    is the total. Room always exists: 0 ≤ total ≤ 45 = 9 × 5.
    """
    sections = len(ANSWERED_SECTIONS)
    start = (
        totals[:, None] / sections
        + np.asarray(ODI_SECTION_OFFSETS)
        + rng.normal(0.0, 0.5, (totals.size, sections))
    )
    answers: IntArray = np.clip(np.rint(start), 0, odi.MAX_ANSWER).astype(np.int64)
    missing = totals - answers.sum(axis=1)
    while True:
        rows = np.flatnonzero(missing)
        if rows.size == 0:
            return answers
        up = missing[rows] > 0
        room = np.where(
            up[:, None], answers[rows] < odi.MAX_ANSWER, answers[rows] > 0
        )  # a section that can move in the needed direction
        pick = np.argmax(np.where(room, rng.random((rows.size, sections)), -1.0), axis=1)
        step = np.where(up, 1, -1)
        answers[rows, pick] += step
        missing[rows] -= step


def _two_readers(reading_sd: float) -> float:
    """Variance the mean of two independent one-decimal readings adds to the true value."""
    return reading_sd**2 / 2 + ONE_DECIMAL_VARIANCE / 2


def _height(values: FloatArray) -> FloatArray:
    return np.clip(np.round(values, 1), 0.1, 60.0)


def _angle(values: FloatArray) -> FloatArray:
    return np.clip(np.round(values, 1), -30.0, 90.0)


def _dates(days: IntArray) -> list[str]:
    """ISO dates of day offsets from ENROLMENT_FIRST."""
    text: list[str] = np.datetime_as_string(
        _EPOCH + days.astype("timedelta64[D]"), unit="D"
    ).tolist()
    return text


def _cells(values: Sequence[str]) -> NDArray[np.object_]:
    return np.array(list(values), dtype=object)


def _comorbidity_cell(mask: int) -> str:
    names = [name for bit, (name, _) in enumerate(COMORBIDITY_SHARES) if mask >> bit & 1]
    return ";".join(sorted(names)) or "none"


_LEVEL_CELLS = _cells(TREATED_LEVELS)
_COMORBIDITY_CELLS = _cells(
    [_comorbidity_cell(mask) for mask in range(1 << len(COMORBIDITY_SHARES))]
)
_MECHANISM_CELLS = _cells([name for name, _ in INJURY_MECHANISMS])
_LEAKAGE_CELLS = _cells([name for name, _ in LEAKAGE_SITES])
_OPERATOR_CELLS = _cells([name for name, _ in OPERATORS])


# ---------------------------------------------------------------------------
# Loading into a registry


def load_demo(
    registry: Registry,
    *,
    patients: int = DEFAULT_PATIENTS,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> ImportReport:
    """Validate and write the demo cohort through the importer; mark the registry as demo.

    Refused for a registry that already holds real (non-demo) patients.
    """
    from sqlalchemy import func, select

    from kyphos.exchange.importer import run_import
    from kyphos.exchange.workbook import SheetRows
    from kyphos.registry.models import Patient, RegistryInfo

    try:
        cohort = demo_cohort(patients=patients, seed=seed)
    except ValueError as error:
        raise KyphosError(f"demo: {error}") from None
    with registry.read() as session:
        info = session.get(RegistryInfo, 1)
        held = session.execute(select(func.count()).select_from(Patient)).scalar_one()
        outside_demo = session.execute(
            select(func.count())
            .select_from(Patient)
            .where(~Patient.study_code.startswith(CODE_PREFIX, autoescape=True))
        ).scalar_one()
    real = held if info is not None and not info.demo else outside_demo
    if real:
        raise KyphosError(
            f"this registry holds {real} real patients; `kyphos demo` loads only into an empty "
            "or a demo registry (use another KYPHOS_HOME)"
        )

    def stream(sheet: str) -> SheetRows:
        header = list(SHEETS_BY_NAME[sheet].column_names)

        def rows() -> Iterator[tuple[int, list[Any]]]:
            for number, row in enumerate(cohort.rows(sheet), start=2):
                yield number, [row[name] for name in header]

        return SheetRows(sheet, header, rows())

    return run_import(
        registry,
        {sheet: stream(sheet) for sheet in DEMO_SHEETS},
        label=f"demo(patients={patients}, seed={seed})",
        reason="synthetic demo cohort",
        progress=progress,
        mark_demo=True,
    )


DEMO_PASSWORD = "kyphos-demo-password"
"""The password of every demo account (documented in the README; demo registries only)."""
DEMO_ACCOUNTS: tuple[str, ...] = ("admin", "investigator", "observer", "analyst")
"""One demo account per role, named after it, a member of the default site."""


def ensure_demo_accounts(registry: Registry) -> list[str]:
    """Create the demo accounts that do not exist yet; only in a demo registry.

    An existing account of the same name is left as it is (its password too). Returns
    the names created.
    """
    from sqlalchemy import select

    from kyphos.registry.models import User
    from kyphos.registry.repository import DEFAULT_SITE_CODE

    if not registry.is_demo():
        raise KyphosError(
            "demo accounts are created only in a demo registry (run `kyphos demo` on an empty "
            "KYPHOS_HOME)"
        )
    with registry.read() as session:
        existing = set(session.execute(select(User.username)).scalars())
    created = []
    for role in DEMO_ACCOUNTS:
        if role in existing:
            continue
        registry.add_user(
            role,
            role=role,
            password=DEMO_PASSWORD,
            sites=[DEFAULT_SITE_CODE],
            display_name=f"Demo {role}",
        )
        created.append(role)
    return created
