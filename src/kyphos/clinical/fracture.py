"""Fracture grade and shape, MRI acuity, and the fracture-related vocabularies.

Genant semi-quantitative grade (Genant et al., JBMR 1993;8:1137–48; CLINICAL.md
§4) from the largest height reduction of the vertebral body, as a fraction 0–1:

* with the neighbours measured (``method="reference"``): the maximum over the
  heights H ∈ {Ha, Hm, Hp} measured both on the index vertebra and on at least
  one neighbour of ``1 − H/Href(H)``, where ``Href(H)`` is the mean of the
  neighbours' same height (:func:`kyphos.clinical.geometry.reference_height`);
* without them (``method="posterior"``): ``1 − min(Ha, Hm)/Hp`` (Hm optional).

Grade boundaries **(kyphos)**: < 0.20 → 0; 0.20 ≤ x < 0.25 → 1;
0.25 ≤ x ≤ 0.40 → 2; > 0.40 → 3. Boundaries are compared with a tolerance of
1e-9 so that a fraction that is 0.20 on paper but not in binary
(1 − 20/25 = 0.19999999999999996) is graded as on paper.

MRI acuity (CLINICAL.md §6; Tanigawa et al., Radiology 2006; Voormolen et al.,
AJNR 2006;27:983–8): see :func:`mri_acuity`.

Cement leakage sites (CLINICAL.md §5) and adverse event types (DATA.md) are
coded vocabularies with English and Chinese labels.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol

from kyphos.clinical.errors import ClinicalValueError
from kyphos.clinical.geometry import Heights, positive_height, reference_height
from kyphos.clinical.values import Labelled, parse_choice

FRACTURE_THRESHOLD = 0.20
"""Height loss (fraction) from which a vertebra counts as fractured (grade 1)."""

GRADE_2_FROM = 0.25
"""Height loss (fraction) from which a fracture is moderate (grade 2)."""

GRADE_2_UP_TO = 0.40
"""Largest height loss (fraction, inclusive) of a moderate fracture; above is grade 3."""

BOUNDARY_TOLERANCE = 1e-9
"""Tolerance when comparing a height-loss fraction with a grade boundary."""

HeightName = Literal["anterior", "middle", "posterior"]
LossMethod = Literal["reference", "posterior"]

_HEIGHT_FIELDS: dict[HeightName, str] = {
    "anterior": "anterior_height_mm",
    "middle": "middle_height_mm",
    "posterior": "posterior_height_mm",
}


# ---------------------------------------------------------------------------
# Vocabularies


class Morphology(Labelled):
    """Shape of a fractured vertebral body (Genant: wedge, biconcave, crush)."""

    WEDGE = ("wedge", "wedge", "楔形")
    BICONCAVE = ("biconcave", "biconcave", "双凹形")
    CRUSH = ("crush", "crush", "压缩形")


class MriSignal(Labelled):
    """Signal of the vertebral body on one MRI sequence, relative to normal marrow."""

    LOW = ("low", "low signal", "低信号")
    ISO = ("iso", "isointense", "等信号")
    HIGH = ("high", "high signal", "高信号")


class Acuity(Labelled):
    """Age of a fracture as MRI shows it (CLINICAL.md §6)."""

    ACUTE_OR_SUBACUTE = ("acute_or_subacute", "acute/subacute", "急性/亚急性")
    CHRONIC = ("chronic", "chronic", "陈旧性")
    INDETERMINATE = ("indeterminate", "indeterminate", "不确定")


class LeakageSite(Labelled):
    """Where cement leaked, recorded as a set per treated vertebra (CLINICAL.md §5).

    Mapping to the classification of Yeom et al., JBJS Br 2003;85:83–9:
    ``venous`` ≈ type B (basivertebral vein) and type S (segmental vein);
    the cortical sites (``anterior``, ``lateral``, ``paravertebral``,
    ``epidural``) ≈ type C (through a cortical defect); ``intradiscal`` = the
    "type D" extension (into the disc). ``needle_tract`` and ``other`` have no
    Yeom type.
    """

    NEEDLE_TRACT = ("needle_tract", "needle tract", "穿刺针道")
    INTRADISCAL = ("intradiscal", "intradiscal", "椎间盘内")
    ANTERIOR = ("anterior", "anterior", "椎体前方")
    LATERAL = ("lateral", "lateral", "椎体侧方")
    PARAVERTEBRAL = ("paravertebral", "paravertebral", "椎旁")
    EPIDURAL = ("epidural", "epidural (canal)", "椎管内（硬膜外）")
    VENOUS = ("venous", "venous", "静脉")
    OTHER = ("other", "other", "其他")


NO_LEAKAGE = "none"
"""The word that records "no leakage" in a leakage list."""


class AdverseEventType(Labelled):
    """Types of adverse event (DATA.md, adverse_events sheet)."""

    ADJACENT_FRACTURE = ("adjacent_fracture", "adjacent vertebral fracture", "相邻椎体骨折")
    REMOTE_FRACTURE = ("remote_fracture", "remote vertebral fracture", "非相邻椎体骨折")
    REFRACTURE = ("refracture", "refracture of a treated vertebra", "原椎体再骨折")
    CEMENT_EMBOLISM = ("cement_embolism", "cement embolism", "骨水泥栓塞")
    INFECTION = ("infection", "infection", "感染")
    NEUROLOGIC_DEFICIT = ("neurologic_deficit", "neurologic deficit", "神经功能损害")
    DEATH = ("death", "death", "死亡")
    OTHER = ("other", "other", "其他")


NEW_FRACTURE_TYPES: frozenset[AdverseEventType] = frozenset(
    {
        AdverseEventType.ADJACENT_FRACTURE,
        AdverseEventType.REMOTE_FRACTURE,
        AdverseEventType.REFRACTURE,
    }
)
"""The event types that count as a new fracture; each needs a vertebral level."""


# ---------------------------------------------------------------------------
# Height loss, Genant grade, morphology


class HeightsLike(Protocol):
    """Anything with the three heights in mm (each may be unmeasured)."""

    @property
    def anterior_mm(self) -> float | None: ...

    @property
    def middle_mm(self) -> float | None: ...

    @property
    def posterior_mm(self) -> float | None: ...


HeightTriple = tuple[float | None, float | None, float | None]
"""Heights as ``(anterior_mm, middle_mm, posterior_mm)``, None where not measured."""

HeightsInput = Heights | HeightsLike | HeightTriple
"""What :func:`height_loss` reads heights from."""


@dataclass(frozen=True)
class HeightLoss:
    """The largest height reduction of a vertebral body.

    ``fraction`` is the largest reduction (0–1; negative when the body is taller
    than its reference), ``height`` says which height it was, ``method`` how it
    was measured: ``"reference"`` against the neighbours' mean, ``"posterior"``
    against the vertebra's own posterior height. ``anterior``, ``middle`` and
    ``posterior`` are the reduction of each height (None where not measured;
    ``posterior`` is None with the posterior method, being the yardstick).
    """

    fraction: float
    height: HeightName
    method: LossMethod
    anterior: float | None = None
    middle: float | None = None
    posterior: float | None = None


def height_loss(
    index: HeightsInput,
    above: HeightsInput | None = None,
    below: HeightsInput | None = None,
) -> HeightLoss:
    """The largest height reduction of ``index`` (see the module docstring).

    Each argument is a :class:`~kyphos.clinical.geometry.Heights` (or anything
    with ``anterior_mm``, ``middle_mm`` and ``posterior_mm``) or a tuple
    ``(anterior_mm, middle_mm, posterior_mm)``; None marks a height not measured.

    With a neighbour given, each height measured on ``index`` and on at least
    one neighbour is compared with the neighbours' mean of that height; the
    largest reduction wins (on a tie the first of anterior, middle, posterior).
    When no height is measured on both the index and a neighbour, or no
    neighbour is given, the reduction is ``1 − min(Ha, Hm)/Hp``.
    """
    own = _heights(index, "")
    neighbours = [
        _heights(neighbour, prefix)
        for neighbour, prefix in ((above, "above."), (below, "below."))
        if neighbour is not None
    ]
    components: dict[HeightName, float] = {}
    for name in ("anterior", "middle", "posterior"):
        height = own[name]
        measured = [neighbour[name] for neighbour in neighbours if neighbour[name] is not None]
        if height is None or not measured:
            continue
        above_mm = measured[0]
        below_mm = measured[1] if len(measured) > 1 else None
        components[name] = 1.0 - height / reference_height(above_mm, below_mm)
    if components:
        worst = max(components, key=components.__getitem__)
        return HeightLoss(
            fraction=components[worst],
            height=worst,
            method="reference",
            anterior=components.get("anterior"),
            middle=components.get("middle"),
            posterior=components.get("posterior"),
        )
    return _loss_against_posterior(own)


def genant_grade(height_loss_fraction: float) -> int:
    """Genant grade 0–3 from the largest height reduction (a fraction 0–1).

    Boundaries (kyphos): < 0.20 → 0 (normal); 0.20 ≤ x < 0.25 → 1 (mild);
    0.25 ≤ x ≤ 0.40 → 2 (moderate); > 0.40 → 3 (severe). A negative fraction
    (the vertebra is taller than its reference) is grade 0: it has lost no
    height. NaN, infinities and fractions above 1 (more than the whole height
    lost) are refused.
    """
    fraction = _fraction(height_loss_fraction)
    if fraction < FRACTURE_THRESHOLD - BOUNDARY_TOLERANCE:
        return 0
    if fraction < GRADE_2_FROM - BOUNDARY_TOLERANCE:
        return 1
    if fraction <= GRADE_2_UP_TO + BOUNDARY_TOLERANCE:
        return 2
    return 3


def morphology(loss: HeightLoss) -> Morphology | None:
    """The shape of a fracture from its height-loss components (a kyphos decision).

    * None when the largest reduction is below the fracture threshold (0.20).
    * ``crush`` when, measured against the neighbours, the posterior height is
      reduced by 0.20 or more too (the whole body has collapsed).
    * otherwise ``wedge`` when the anterior height is reduced most and
      ``biconcave`` when the middle height is (a tie counts as wedge).

    With the posterior method there is no crush: the posterior height is the
    yardstick, so its own reduction cannot be seen.
    """
    if _fraction(loss.fraction) < FRACTURE_THRESHOLD - BOUNDARY_TOLERANCE:
        return None
    if (
        loss.method == "reference"
        and loss.posterior is not None
        and loss.posterior >= FRACTURE_THRESHOLD - BOUNDARY_TOLERANCE
    ):
        return Morphology.CRUSH
    anterior = -math.inf if loss.anterior is None else loss.anterior
    middle = -math.inf if loss.middle is None else loss.middle
    if max(anterior, middle) < FRACTURE_THRESHOLD - BOUNDARY_TOLERANCE:
        return None
    return Morphology.WEDGE if anterior >= middle else Morphology.BICONCAVE


# ---------------------------------------------------------------------------
# MRI acuity


def parse_signal(value: object, field: str) -> MriSignal | None:
    """An MRI signal (``low``/``iso``/``high``, any case); None if empty or None."""
    return parse_choice(value, MriSignal, field, what=("an MRI signal", "MRI信号"))


def mri_acuity(
    t1: MriSignal | str | None,
    t2: MriSignal | str | None,
    stir: MriSignal | str | None,
) -> Acuity:
    """Acute/subacute, chronic or indeterminate, from the T1, T2 and STIR signals.

    CLINICAL.md §6: the fluid-sensitive signal is STIR, or T2 when STIR was not
    done. Acute/subacute (oedema) = T1 low AND fluid-sensitive high. Chronic
    (healed) = T1 not low AND fluid-sensitive not high. Everything else — one
    abnormal and the other not, T1 missing, or both fluid-sensitive sequences
    missing — is indeterminate.
    """
    t1_signal = parse_signal(t1, "mri_t1")
    t2_signal = parse_signal(t2, "mri_t2")
    stir_signal = parse_signal(stir, "mri_stir")
    fluid = stir_signal if stir_signal is not None else t2_signal
    if t1_signal is None or fluid is None:
        return Acuity.INDETERMINATE
    t1_low = t1_signal is MriSignal.LOW
    fluid_high = fluid is MriSignal.HIGH
    if t1_low and fluid_high:
        return Acuity.ACUTE_OR_SUBACUTE
    if not t1_low and not fluid_high:
        return Acuity.CHRONIC
    return Acuity.INDETERMINATE


# ---------------------------------------------------------------------------
# Cement leakage


def parse_leakage(value: object, field: str = "leakage") -> frozenset[LeakageSite]:
    """The set of leakage sites from a ``;``-list (``"intradiscal; venous"``) or an iterable.

    ``none`` alone, an empty cell or None mean no leakage (the empty set);
    ``none`` together with a site is an error; duplicates are fine.
    """
    if value is None:
        return frozenset()
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(";")]
    elif isinstance(value, Iterable):
        parts = [str(part).strip() for part in value]
    else:
        parts = [str(value).strip()]
    words = [part for part in parts if part]
    folded = {word.lower() for word in words}
    if NO_LEAKAGE in folded:
        if len(folded) > 1:
            others = ", ".join(sorted(folded - {NO_LEAKAGE}))
            raise ClinicalValueError(
                field,
                f"'none' cannot be combined with a leakage site ({others}): "
                "write either 'none' or the sites",
                message_zh=f"“none”不能与渗漏部位（{others}）同时填写：请只填“none”或只填部位",
            )
        return frozenset()
    sites = {site.value: site for site in LeakageSite}
    unknown = [word for word in words if word.lower() not in sites]
    if unknown:
        allowed = ", ".join([NO_LEAKAGE, *sites])
        shown = ", ".join(repr(word) for word in unknown)
        raise ClinicalValueError(
            field,
            f"{shown} is not a leakage site: use {allowed} (separate several with ';')",
            message_zh=f"{shown} 不是骨水泥渗漏部位：可用 {allowed}（多个以“;”分隔）",
        )
    return frozenset(sites[word.lower()] for word in words)


# ---------------------------------------------------------------------------
# Internals


def _heights(value: object, prefix: str) -> dict[HeightName, float | None]:
    """The three heights of ``value`` (a Heights-like object or a 3-sequence), checked."""
    if isinstance(value, tuple | list):
        if len(value) != 3:
            raise ClinicalValueError(
                f"{prefix}heights",
                f"heights must be (anterior_mm, middle_mm, posterior_mm), got {value!r}",
                message_zh=f"高度应为 (前缘, 中部, 后缘) 毫米值，实际为 {value!r}",
            )
        raw: tuple[object, object, object] = (value[0], value[1], value[2])
    else:
        names = ("anterior_mm", "middle_mm", "posterior_mm")
        if not all(hasattr(value, name) for name in names):
            raise ClinicalValueError(
                f"{prefix}heights",
                f"{value!r} has no anterior_mm, middle_mm and posterior_mm",
                message_zh=f"{value!r} 缺少前缘、中部、后缘高度",
            )
        raw = (getattr(value, names[0]), getattr(value, names[1]), getattr(value, names[2]))
    checked: dict[HeightName, float | None] = {}
    for name, height in zip(_HEIGHT_FIELDS, raw, strict=True):
        checked[name] = (
            None if height is None else positive_height(height, prefix + _HEIGHT_FIELDS[name])
        )
    return checked


def _loss_against_posterior(own: dict[HeightName, float | None]) -> HeightLoss:
    posterior = own["posterior"]
    anterior = own["anterior"]
    middle = own["middle"]
    if posterior is None or (anterior is None and middle is None):
        raise ClinicalValueError(
            "heights",
            "height loss needs the neighbours' heights, or the posterior height with the "
            "anterior or middle height of the same vertebra",
            message_zh="计算高度丢失需要相邻椎体高度，或同一椎体的后缘高度及前缘或中部高度",
        )
    losses: dict[HeightName, float] = {}
    if anterior is not None:
        losses["anterior"] = 1.0 - anterior / posterior
    if middle is not None:
        losses["middle"] = 1.0 - middle / posterior
    worst = max(losses, key=losses.__getitem__)  # on a tie, anterior
    return HeightLoss(
        fraction=losses[worst],
        height=worst,
        method="posterior",
        anterior=losses.get("anterior"),
        middle=losses.get("middle"),
        posterior=None,
    )


def _fraction(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ClinicalValueError(
            "height_loss",
            f"{value!r} is not a height-loss fraction (a number, at most 1)",
            message_zh=f"{value!r} 不是高度丢失比例（应为不大于1的数）",
        )
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ClinicalValueError(
            "height_loss",
            f"{value!r} is not a height-loss fraction: it must be a finite number, at most 1",
            message_zh=f"{value!r} 不是有效的高度丢失比例：应为不大于1的有限数值",
        )
    if number > 1.0 + BOUNDARY_TOLERANCE:
        raise ClinicalValueError(
            "height_loss",
            f"{number!r} is not a height-loss fraction: more than the whole height (1) "
            "cannot be lost; give a fraction, not a percent",
            message_zh=f"{number!r} 不是有效的高度丢失比例：不能超过1（请用比例而非百分数）",
        )
    return number
