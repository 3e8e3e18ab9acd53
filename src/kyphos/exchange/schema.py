"""The canonical workbook's sheets and columns (DATA.md §1), as the importer reads them.

This module is the one description of the workbook: the importer parses every cell
with the column's ``parse`` (which calls :mod:`kyphos.clinical`), the exporter
writes with ``format``, and ``docs/data-dictionary.md`` is generated from it
(``python -m kyphos.exchange.dictionary``), so the three cannot drift.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kyphos.clinical import geometry, levels, odi, protocol, vas
from kyphos.clinical.errors import ClinicalValueError
from kyphos.clinical.fracture import (
    AdverseEventType,
    LeakageSite,
    Morphology,
    parse_leakage,
    parse_signal,
)
from kyphos.clinical.numbers import parse_number
from kyphos.clinical.patient import (
    SEX_ALIASES,
    Comorbidity,
    InjuryMechanism,
    Sex,
    check_age,
    check_bmd_t_score,
    check_height_cm,
    check_weight_kg,
)
from kyphos.clinical.procedure import (
    RELATED_ALIASES,
    Anaesthesia,
    Approach,
    ObserverRole,
    Related,
    Technique,
    check_cement_volume_ml,
    check_duration_min,
)
from kyphos.clinical.values import (
    parse_choice,
    parse_choice_set,
    parse_date,
    parse_text,
    parse_yes_no,
)

Parser = Callable[[object, str], Any]
Formatter = Callable[[Any], str]

FORMULA_PREFIXES = ("=", "+", "-", "@")
MAX_TEXT = 200


# --- cell readers (each calls the clinical layer) ------------------------------------------


def _text(value: object, field: str) -> str | None:
    return parse_text(value, field, max_length=MAX_TEXT)


def _long_text(value: object, field: str) -> str | None:
    return parse_text(value, field, max_length=4000)


def _code(value: object, field: str) -> str | None:
    text = _text(value, field)
    if text is not None and any(ch.isspace() for ch in text):
        raise ClinicalValueError(
            field,
            f"{text!r} contains spaces; codes are written without spaces",
            message_zh=f"{text!r} 含有空格；编码中不能有空格",
        )
    return text


def _level(value: object, field: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return levels.parse_level(value, field)


def _timepoint(value: object, field: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return protocol.parse_key(str(value)).key
    except ClinicalValueError as error:
        raise ClinicalValueError(field, error.message, message_zh=error.message_zh) from None


def _choice(choices: type[StrEnum], aliases: dict[str, Any] | None = None) -> Parser:
    def parse(value: object, field: str) -> str | None:
        member = parse_choice(value, choices, field, aliases)
        return None if member is None else member.value

    return parse


def _choice_set(choices: type[StrEnum]) -> Parser:
    def parse(value: object, field: str) -> str | None:
        members = parse_choice_set(value, choices, field)
        if members is None:
            return None
        return ";".join(sorted(member.value for member in members))

    return parse


def _leakage(value: object, field: str) -> str:
    return ";".join(sorted(site.value for site in parse_leakage(value, field)))


def _signal(value: object, field: str) -> str | None:
    member = parse_signal(value, field)
    return None if member is None else member.value


def _odi_answer(section: int) -> Parser:
    def parse(value: object, field: str) -> int | None:
        try:
            return odi.parse_answer(value, section)
        except ClinicalValueError as error:
            raise ClinicalValueError(field, error.message, message_zh=error.message_zh) from None

    return parse


def _odi_language(value: object, field: str) -> str | None:
    text = _text(value, field)
    if text is not None and text.lower() not in odi.LANGUAGES:
        raise ClinicalValueError(field, f"{text!r} is not one of: {', '.join(odi.LANGUAGES)}")
    return None if text is None else text.lower()


def _odi_version(value: object, field: str) -> str | None:
    return _text(value, field)


def _number(value: object, field: str) -> float | None:
    return parse_number(value, field)


# --- cell writers ---------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """The canonical text of a stored value (export; CSV round trips byte for byte)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _format_set(value: Any) -> str:
    if value is None:
        return ""
    return value or "none"


def escape_text(text: str) -> str:
    """Text that a spreadsheet would read as a formula gets a leading ``'``."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def unescape_text(value: object) -> object:
    """Strip the leading ``'`` the exporter added before formula-like text."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_PREFIXES):
        return value[1:]
    return value


@dataclass(frozen=True)
class Column:
    """One column of a sheet: how to read it, how to write it, what it means."""

    name: str
    kind: str
    parse: Parser
    note_en: str
    note_zh: str
    required: bool = False
    format: Formatter = format_value
    text: bool = False
    """Free text: formula-like content is escaped on export."""


@dataclass(frozen=True)
class Sheet:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    note_en: str
    note_zh: str
    required: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


def _vocab(choices: type[StrEnum]) -> str:
    return " / ".join(member.value for member in choices)


PATIENT_ID = Column(
    "patient_id",
    "text",
    _code,
    "the patient's pseudonymous study code; must exist",
    "患者研究编号（假名化）；须已存在",
    required=True,
    text=True,
)

PATIENTS = Sheet(
    "patients",
    (
        Column(
            "patient_id",
            "text",
            _code,
            "pseudonymous study code, unique in the registry (sites usually prefix their codes)",
            "患者研究编号（假名化），在登记库中唯一（各中心通常加前缀）",
            required=True,
            text=True,
        ),
        Column(
            "site",
            "text",
            _code,
            "site code; the default site when empty",
            "中心编码；为空时为默认中心",
            text=True,
        ),
        Column(
            "sex",
            "M / F",
            _choice(Sex, SEX_ALIASES),
            "M or F (男 / 女 accepted)",
            "性别：M 或 F（也可写 男 / 女）",
            required=True,
        ),
        Column(
            "age",
            "integer",
            check_age,
            "age in whole years at the index procedure, 18–120; required unless birth_date "
            "is given",
            "首次手术时年龄（整岁，18–120）；未填出生日期时必填",
        ),
        Column("birth_date", "date", parse_date, "YYYY-MM-DD", "出生日期（YYYY-MM-DD）"),
        Column(
            "height_cm", "number", check_height_cm, "body height, 100–230 cm", "身高（100–230 cm）"
        ),
        Column(
            "weight_kg", "number", check_weight_kg, "body weight, 25–250 kg", "体重（25–250 kg）"
        ),
        Column(
            "bmd_t_score",
            "number",
            check_bmd_t_score,
            "bone density T-score, −7 … +4",
            "骨密度T值（−7 至 +4）",
        ),
        Column(
            "comorbidities",
            "; list",
            _choice_set(Comorbidity),
            f"{_vocab(Comorbidity)}; `none` alone = none; empty = not recorded",
            "合并症，分号分隔；单独写 none 表示无；空白表示未记录",
            format=_format_set,
        ),
        Column(
            "injury_mechanism",
            "choice",
            _choice(InjuryMechanism),
            _vocab(InjuryMechanism),
            "受伤机制",
        ),
        Column(
            "injury_date", "date", parse_date, "not after the procedure", "受伤日期，不晚于手术日期"
        ),
        Column(
            "symptom_onset_date",
            "date",
            parse_date,
            "not after the procedure",
            "症状出现日期，不晚于手术日期",
        ),
    ),
    key=("patient_id",),
    note_en="one row per patient",
    note_zh="每位患者一行",
    required=True,
)

IDENTITY = Sheet(
    "identity",
    (
        PATIENT_ID,
        Column(
            "full_name",
            "text",
            _text,
            "identifying; kept apart, never in the audit trail",
            "姓名（身份信息，单独保存，审计记录中不出现明文）",
            text=True,
        ),
        Column("hospital_number", "text", _text, "identifying", "住院号（身份信息）", text=True),
        Column("phone", "text", _text, "identifying", "电话（身份信息）", text=True),
    ),
    key=("patient_id",),
    note_en="optional; identifying data, imported only by an admin or the site's investigators",
    note_zh="可选；身份信息，仅管理员或本中心研究者可导入",
)

VERTEBRAE = Sheet(
    "vertebrae",
    (
        PATIENT_ID,
        Column(
            "level",
            "level",
            _level,
            "C7, T1…T12, L1…L5; unique per patient",
            "椎体节段（C7、T1–T12、L1–L5），每位患者不重复",
            required=True,
        ),
        Column("mri_t1", "signal", _signal, "low / iso / high", "MRI T1信号：low / iso / high"),
        Column("mri_t2", "signal", _signal, "low / iso / high", "MRI T2信号：low / iso / high"),
        Column("mri_stir", "signal", _signal, "low / iso / high", "MRI STIR信号：low / iso / high"),
        Column("posterior_wall_intact", "yes/no", parse_yes_no, "yes / no", "椎体后壁是否完整"),
        Column("morphology", "choice", _choice(Morphology), _vocab(Morphology), "骨折形态"),
        Column(
            "treated",
            "yes/no",
            parse_yes_no,
            "whether this vertebra was augmented",
            "是否行椎体强化治疗",
            required=True,
        ),
    ),
    key=("patient_id", "level"),
    note_en="one row per fractured vertebra, treated or not",
    note_zh="每个骨折椎体一行（无论是否治疗）",
)

PROCEDURES = Sheet(
    "procedures",
    (
        PATIENT_ID,
        Column(
            "level",
            "level",
            _level,
            "the vertebra must exist with treated = yes",
            "椎体节段；须在 vertebrae 表中且 treated = yes",
            required=True,
        ),
        Column(
            "procedure_date",
            "date",
            parse_date,
            "YYYY-MM-DD; the earliest is the index "
            "procedure; levels with one date form one procedure",
            "手术日期；最早者为首次手术，同日节段属同一次手术",
            required=True,
        ),
        Column(
            "technique",
            "choice",
            _choice(Technique),
            f"{_vocab(Technique)}; default kyphoplasty",
            "术式，默认 kyphoplasty",
        ),
        Column("approach", "choice", _choice(Approach), _vocab(Approach), "穿刺入路"),
        Column(
            "anaesthesia",
            "choice",
            _choice(Anaesthesia),
            f"{_vocab(Anaesthesia)}; the same for all levels of one procedure date",
            "麻醉方式；同一手术日期各节段须一致",
        ),
        Column(
            "cement_volume_ml",
            "number",
            check_cement_volume_ml,
            "0 < v ≤ 20 mL per level",
            "骨水泥注入量（每节段，0 < v ≤ 20 mL）",
        ),
        Column(
            "leakage",
            "; list",
            _leakage,
            f"{'; '.join(site.value for site in LeakageSite)}; `none` or empty = no leakage",
            "骨水泥渗漏部位，分号分隔；none 或空白表示无渗漏",
            format=_format_set,
        ),
        Column("leakage_symptomatic", "yes/no", parse_yes_no, "yes / no", "渗漏是否有症状"),
        Column(
            "duration_min",
            "number",
            check_duration_min,
            "operating time per level, minutes",
            "每节段手术时间（分钟）",
        ),
        Column(
            "operator",
            "text",
            _text,
            "the same for all levels of one procedure date",
            "术者；同一手术日期各节段须一致",
            text=True,
        ),
    ),
    key=("patient_id", "level"),
    note_en="one row per treated vertebra",
    note_zh="每个治疗椎体一行",
)

VISITS = Sheet(
    "visits",
    (
        PATIENT_ID,
        Column(
            "timepoint",
            "time point",
            _timepoint,
            "preop, postop, final, or d<N> / w<N> / m<N> (days, weeks, months after the index "
            "procedure); keys outside the protocol are kept as unscheduled",
            "随访时间点：preop、postop、final 或 d<N>/w<N>/m<N>（术后天/周/月）",
            required=True,
        ),
        Column(
            "visit_date",
            "date",
            parse_date,
            "optional for preop; not before the procedure for other time points",
            "随访日期；术前可空，其他时间点不得早于手术",
        ),
        Column(
            "vas",
            "number",
            vas.parse_cm,
            "pain VAS 0–10 cm, one decimal",
            "VAS疼痛评分（0–10 cm，一位小数）",
        ),
        *(
            Column(
                f"odi_{section.number}",
                "0–5",
                _odi_answer(section.number),
                f"ODI section {section.number}: {section.title_en.lower()}",
                f"ODI第{section.number}项：{section.title_zh}",
            )
            for section in odi.SECTIONS
        ),
        Column(
            "odi_version",
            "text",
            _odi_version,
            f"default {odi.VERSION}",
            f"ODI版本，默认 {odi.VERSION}",
            text=True,
        ),
        Column(
            "odi_language",
            "en / zh",
            _odi_language,
            "language the ODI was answered in",
            "ODI作答语言",
        ),
    ),
    key=("patient_id", "timepoint"),
    note_en="one row per patient and time point",
    note_zh="每位患者每个时间点一行",
)

MEASUREMENTS = Sheet(
    "measurements",
    (
        PATIENT_ID,
        Column(
            "level", "level", _level, "the vertebra must exist", "椎体节段；须已存在", required=True
        ),
        Column(
            "timepoint",
            "time point",
            _timepoint,
            "the visit must exist",
            "时间点；该随访须已存在",
            required=True,
        ),
        Column(
            "observer",
            "text",
            _code,
            "user name or initials; two observers per vertebra and time point is the norm",
            "测量者（用户名或缩写）；通常每椎体每时间点两名",
            required=True,
            text=True,
        ),
        Column(
            "role",
            "choice",
            _choice(ObserverRole),
            "primary / adjudicator (default primary); at most one adjudicator per vertebra and "
            "time point",
            "primary（默认）或 adjudicator；每椎体每时间点最多一名仲裁者",
        ),
        Column(
            "anterior_height_mm",
            "number",
            lambda v, f: geometry.validate_height_mm(v, f),
            "more than 0, at most 60 mm",
            "椎体前缘高度（大于0且不超过60 mm）",
        ),
        Column(
            "middle_height_mm",
            "number",
            lambda v, f: geometry.validate_height_mm(v, f),
            "more than 0, at most 60 mm",
            "椎体中部高度（大于0且不超过60 mm）",
        ),
        Column(
            "posterior_height_mm",
            "number",
            lambda v, f: geometry.validate_height_mm(v, f),
            "more than 0, at most 60 mm",
            "椎体后缘高度（大于0且不超过60 mm）",
        ),
        Column(
            "wedge_angle_deg",
            "number",
            lambda v, f: geometry.validate_angle_deg(v, f),
            "−30 … 90; the vertebra's own endplates; positive = kyphosis",
            "椎体楔形角（−30 至 90°，正值为后凸）",
        ),
        Column(
            "kyphotic_angle_deg",
            "number",
            lambda v, f: geometry.validate_angle_deg(v, f),
            "−30 … 90; segmental Cobb angle, superior endplate above to inferior endplate "
            "below; positive = kyphosis",
            "节段后凸Cobb角（−30 至 90°，上位椎上终板至下位椎下终板，正值为后凸）",
        ),
    ),
    key=("patient_id", "level", "timepoint", "observer", "role"),
    note_en="one row per vertebra, time point and observer",
    note_zh="每椎体、每时间点、每测量者一行",
)

ADVERSE_EVENTS = Sheet(
    "adverse_events",
    (
        PATIENT_ID,
        Column(
            "event_date",
            "date",
            parse_date,
            "not before the procedure",
            "事件日期，不早于手术",
            required=True,
        ),
        Column(
            "type",
            "choice",
            _choice(AdverseEventType),
            _vocab(AdverseEventType),
            "事件类型",
            required=True,
        ),
        Column(
            "level",
            "level",
            _level,
            "required for the three fracture types; need not be in the vertebrae sheet",
            "节段；三种骨折类型必填（可为新骨折节段）",
        ),
        Column("serious", "yes/no", parse_yes_no, "yes / no", "是否严重"),
        Column(
            "related",
            "choice",
            _choice(Related, RELATED_ALIASES),
            "yes / no / unknown: related to the procedure",
            "与手术是否相关",
        ),
        Column(
            "description",
            "text",
            _long_text,
            "free text (dropped by de-identified export)",
            "描述（去标识导出时删除）",
            text=True,
        ),
    ),
    key=("patient_id", "event_date", "type", "level"),
    note_en="one row per adverse event",
    note_zh="每个不良事件一行",
)

SHEETS: tuple[Sheet, ...] = (
    PATIENTS,
    IDENTITY,
    VERTEBRAE,
    PROCEDURES,
    VISITS,
    MEASUREMENTS,
    ADVERSE_EVENTS,
)
"""In import order: every sheet refers only to sheets before it."""

SHEETS_BY_NAME = {sheet.name: sheet for sheet in SHEETS}
