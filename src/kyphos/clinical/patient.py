"""Patient-level facts: sex, age, body size, bone density, comorbidities, injury.

Vocabularies and plausibility limits of the ``patients`` sheet (DATA.md §1).
The limits catch typing errors (a height in metres, a weight in pounds), not
rare patients; each is a named constant so a department can see what it is.
"""

from __future__ import annotations

import datetime as dt

from kyphos.clinical.errors import ClinicalValueError
from kyphos.clinical.numbers import check_range, parse_integer
from kyphos.clinical.values import Labelled

MIN_AGE_YEARS = 18
MAX_AGE_YEARS = 120
MIN_HEIGHT_CM = 100.0
MAX_HEIGHT_CM = 230.0
MIN_WEIGHT_KG = 25.0
MAX_WEIGHT_KG = 250.0
MIN_BMD_T_SCORE = -7.0
MAX_BMD_T_SCORE = 4.0
OSTEOPOROSIS_T_SCORE = -2.5
"""WHO: a T-score at or below −2.5 is osteoporosis."""


class Sex(Labelled):
    M = ("M", "male", "男")
    F = ("F", "female", "女")


SEX_ALIASES = {"男": Sex.M, "女": Sex.F, "male": Sex.M, "female": Sex.F}


class Comorbidity(Labelled):
    none = ("none", "none", "无")
    hypertension = ("hypertension", "hypertension", "高血压")
    coronary_heart_disease = ("coronary_heart_disease", "coronary heart disease", "冠心病")
    diabetes = ("diabetes", "diabetes", "糖尿病")
    chronic_bronchitis = ("chronic_bronchitis", "chronic bronchitis", "慢性支气管炎")
    copd = ("copd", "COPD", "慢性阻塞性肺疾病")
    stroke = ("stroke", "stroke", "脑卒中")
    renal_failure = ("renal_failure", "renal failure", "肾功能衰竭")
    malignancy = ("malignancy", "malignancy", "恶性肿瘤")
    other = ("other", "other", "其他")


class InjuryMechanism(Labelled):
    fall_walking = ("fall_walking", "fall while walking", "行走时跌倒")
    lifting = ("lifting", "lifting", "提重物")
    vehicle_jolt = ("vehicle_jolt", "jolt in a vehicle", "乘车颠簸")
    twist_or_sit = ("twist_or_sit", "twisting or sitting down", "扭腰或坐下")
    none = ("none", "no injury recalled", "无明确外伤")
    other = ("other", "other", "其他")


def check_age(value: object, field: str = "age") -> int | None:
    """Age in whole years at the index procedure (18–120); None if empty."""
    age = parse_integer(value, field)
    if age is not None and not MIN_AGE_YEARS <= age <= MAX_AGE_YEARS:
        raise ClinicalValueError(
            field,
            f"{age} is outside the accepted age range ({MIN_AGE_YEARS}–{MAX_AGE_YEARS} years)",
            message_zh=f"{age} 超出可接受的年龄范围（{MIN_AGE_YEARS}–{MAX_AGE_YEARS}岁）",
        )
    return age


def age_on(birth_date: dt.date, on: dt.date) -> int:
    """Completed years between ``birth_date`` and ``on``."""
    if birth_date > on:
        raise ClinicalValueError(
            "birth_date",
            f"{birth_date.isoformat()} is after {on.isoformat()}",
            message_zh=f"出生日期 {birth_date.isoformat()} 晚于 {on.isoformat()}",
        )
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def check_height_cm(value: object, field: str = "height_cm") -> float | None:
    """Body height in cm (100–230)."""
    return check_range(value, field, MIN_HEIGHT_CM, MAX_HEIGHT_CM, "cm")


def check_weight_kg(value: object, field: str = "weight_kg") -> float | None:
    """Body weight in kg (25–250)."""
    return check_range(value, field, MIN_WEIGHT_KG, MAX_WEIGHT_KG, "kg")


def check_bmd_t_score(value: object, field: str = "bmd_t_score") -> float | None:
    """Bone mineral density T-score (−7 … +4)."""
    return check_range(value, field, MIN_BMD_T_SCORE, MAX_BMD_T_SCORE, "")


def bmi(height_cm: float, weight_kg: float) -> float:
    """Body-mass index, kg/m²."""
    if height_cm <= 0 or weight_kg <= 0:
        raise ClinicalValueError("bmi", "height and weight must be positive")
    metres = height_cm / 100.0
    return weight_kg / (metres * metres)
