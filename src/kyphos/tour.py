"""``kyphos tour``: the clinical core worked on the published reference cases.

Each line shows an input from CLINICAL.md and what kyphos makes of it, so a new user
can check the numbers against the sources by eye.
"""

from __future__ import annotations

import datetime as dt

from kyphos.clinical import fracture, geometry, levels, odi, protocol, vas
from kyphos.clinical.numbers import format_fixed

_TEXT = {
    "title": (
        "kyphos — the clinical core on the reference cases",
        "kyphos — 临床核心（参考病例演示）",
    ),
    "odi": ("ODI v2.1a", "ODI v2.1a"),
    "vas": ("VAS", "VAS"),
    "levels": ("Levels", "椎体节段"),
    "geometry": ("Radiographic geometry", "影像测量"),
    "fracture": ("Fracture", "骨折"),
    "protocol": ("Visit protocol", "随访方案"),
}


def render_tour(lang: str = "en") -> str:
    """The tour as text in ``lang`` (``en`` or ``zh``)."""
    zh = lang == "zh"

    def heading(key: str) -> str:
        return f"\n{_TEXT[key][1 if zh else 0]}"

    lines = [_TEXT["title"][1 if zh else 0]]

    lines.append(heading("odi"))
    for answers in ([1, 2, 2, 1, 2, 1, 2, 1, 2, 2], [1, 2, 2, 1, 2, 1, 2, None, 3, 2]):
        result = odi.score(answers)
        shown = " ".join("-" if a is None else str(a) for a in answers)
        lines.append(
            f"  [{shown}] → raw {result.raw}/{5 * result.answered}, "
            f"{format_fixed(result.percent, 2)} %, {odi.band_label(result.band, lang)}"
        )
    lines.append(f"  raw 40 over 9 sections → {format_fixed(odi.raw_to_percent(40, 9), 1)} %")

    lines.append(heading("vas"))
    lines.append(f"  83 mm → {vas.mm_to_cm(83)} cm")

    lines.append(heading("levels"))
    lines.append(f"  'T9-L2' → {', '.join(levels.expand_range('T9-L2'))}")
    above, below = levels.adjacent("T12")
    lines.append(f"  T12: above {above}, below {below}")

    lines.append(heading("geometry"))
    trapezoid = geometry.VertebraLandmarks(sa=(0, 0), sp=(30, 0), ia=(0, 15), ip=(30, 25))
    lines.append(
        f"  Ha 15, Hp 25, depth 30 → wedge angle "
        f"{format_fixed(geometry.wedge_angle(trapezoid), 2)}°"
    )
    reference = geometry.reference_height(26, 28)
    restoration = geometry.height_restoration(15, 22, reference)
    lines.append(
        f"  Ha 15 with neighbours 26 and 28 → Href {format_fixed(reference, 1)} mm, "
        f"compression {format_fixed(geometry.compression_percent(15, reference), 1)} %"
    )
    if restoration.of_lost_height_percent is not None:
        lines.append(
            f"  post-op Ha 22 → {format_fixed(restoration.absolute_mm, 1)} mm restored, "
            f"{format_fixed(restoration.of_lost_height_percent, 1)} % of the lost height"
        )

    lines.append(heading("fracture"))
    for loss in (0.15, 0.22, 0.30, 0.444):
        lines.append(f"  height loss {loss} → Genant grade {fracture.genant_grade(loss)}")
    acuity = fracture.mri_acuity("low", None, "high")
    lines.append(f"  MRI T1 low, STIR high → {acuity.label(lang)}")

    lines.append(heading("protocol"))
    index = dt.date(2010, 3, 1)
    for day in (-5, 10, 200):
        visit = index + dt.timedelta(days=day)
        key = protocol.classify(visit, index)
        point = protocol.DEFAULT_PROTOCOL.get(key) if key else None
        label = point.label(lang) if point else "unscheduled"
        lines.append(f"  visit on day {day:+d} → {key} ({label})")
    return "\n".join(lines)
