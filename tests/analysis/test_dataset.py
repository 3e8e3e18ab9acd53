"""The study dataset read back from a registry: units of analysis, final visit, adjudication,
de-identification, site filter. Expected values are worked out by hand from the fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from kyphos.analysis import load_dataset
from kyphos.exchange.importer import import_workbook
from kyphos.registry.repository import Registry

WORKBOOK = {
    "patients.csv": """patient_id,site,sex,age,height_cm,weight_kg
AA-1,,F,70,160,64
AA-2,,M,95,,
BB-1,BJ,F,66,,
""",
    "identity.csv": """patient_id,full_name,hospital_number
AA-1,Li Hua,H-778899
""",
    "vertebrae.csv": """patient_id,level,mri_t1,mri_stir,treated
AA-1,T12,low,high,yes
AA-1,L2,iso,iso,no
AA-2,L1,low,high,yes
BB-1,T11,low,iso,yes
""",
    "procedures.csv": """patient_id,level,procedure_date
AA-1,T12,2010-01-10
AA-2,L1,2010-02-01
BB-1,T11,2010-03-01
""",
    # AA-1: m12 visit on day 365 and no visit keyed final -> m12 also stands for final.
    # AA-2: a visit keyed final (day 200) wins over the later m12 (day 400).
    "visits.csv": "patient_id,timepoint,visit_date,vas,"
    + ",".join(f"odi_{n}" for n in range(1, 11))
    + """
AA-1,preop,2010-01-08,8.0,4,4,5,4,4,5,4,,5,5
AA-1,postop,2010-01-17,3.0,2,2,2,2,2,2,2,,1,2
AA-1,m12,2011-01-10,2.0,1,1,1,1,1,1,1,,1,1
AA-2,preop,2010-01-30,9.0,5,5,5,5,5,5,5,5,5,5
AA-2,final,2010-08-20,4.0,,,,,,,,,,
AA-2,m12,2011-03-08,3.5,1,1,,,,1,1,1,1,1
BB-1,preop,2010-02-27,7.0,,,,,,,,,,
""",
    "measurements.csv": "patient_id,level,timepoint,observer,role,"
    + """anterior_height_mm,kyphotic_angle_deg
AA-1,T12,preop,obs_a,primary,14.0,30.0
AA-1,T12,preop,obs_b,primary,15.0,31.0
AA-1,T12,postop,obs_a,primary,25.0,12.0
AA-1,T12,postop,obs_b,primary,24.0,13.0
AA-1,T12,postop,adj,adjudicator,24.6,12.4
AA-1,T12,m12,obs_a,primary,23.0,14.0
""",
}


@pytest.fixture
def loaded(registry: Registry, tmp_path: Path) -> Registry:
    registry.add_site("BJ", "Beijing")
    folder = tmp_path / "workbook"
    folder.mkdir()
    for name, text in WORKBOOK.items():
        (folder / name).write_text(text, encoding="utf-8")
    import_workbook(registry, folder)
    return registry


def test_patient_outcomes_use_the_protocol_time_points_and_the_final_rule(loaded: Registry) -> None:
    data = load_dataset()
    outcomes = data.patient_outcomes().set_index(["patient", "timepoint"]).sort_index()
    codes = dict(zip(data.patients["age"], data.patients["patient"], strict=True))
    aa1, aa2 = codes[70], codes[90]
    # AA-1 final = its m12 visit (day 365 >= 180): VAS 2.0, ODI 9/45 = 20 %
    assert outcomes.loc[(aa1, "final"), "vas"] == 2.0
    assert outcomes.loc[(aa1, "final"), "odi"] == pytest.approx(20.0)
    # AA-1 preop ODI: 4+4+5+4+4+5+4+5+5 = 40 over 9 sections = 88.89 %
    assert outcomes.loc[(aa1, "preop"), "odi"] == pytest.approx(40 / 45 * 100)
    # AA-2: the visit keyed final wins (VAS 4.0), its ODI has no answers -> no score
    assert outcomes.loc[(aa2, "final"), "vas"] == 4.0
    assert str(outcomes.loc[(aa2, "final"), "odi"]) == "nan"
    assert outcomes.loc[(aa2, "preop"), "odi"] == pytest.approx(100.0)
    # m12 of AA-2 has 3 missing sections (3, 4, 5): it is not a protocol time point here
    assert set(outcomes.index.get_level_values("timepoint")) == {"preop", "postop", "final"}


def test_vertebra_outcomes_take_the_adjudicator_else_the_mean_of_primaries(
    loaded: Registry,
) -> None:
    values = load_dataset().vertebra_outcomes().set_index("timepoint").sort_index()
    assert values.loc["preop", "anterior_height_mm"] == pytest.approx(14.5)
    assert values.loc["preop", "kyphotic_angle_deg"] == pytest.approx(30.5)
    assert values.loc["postop", "anterior_height_mm"] == pytest.approx(24.6)
    assert values.loc["postop", "kyphotic_angle_deg"] == pytest.approx(12.4)
    # the m12 reading stands for final (no visit keyed final for AA-1)
    assert values.loc["final", "anterior_height_mm"] == pytest.approx(23.0)


def test_the_dataset_carries_no_codes_names_or_dates(loaded: Registry) -> None:
    data = load_dataset()
    text = " ".join(
        frame.astype(str).to_csv()
        for frame in (data.patients, data.vertebrae, data.visits, data.measurements, data.events)
    )
    for secret in ("AA-1", "BB-1", "Li Hua", "H-778899", "2010-01-10", "2011-01-10"):
        assert secret not in text
    assert data.patients["age"].max() == 90  # 95 reported as 90


def test_days_bmi_acuity_and_follow_up_are_derived(loaded: Registry) -> None:
    data = load_dataset()
    aa1 = data.patients.loc[data.patients["age"] == 70].iloc[0]
    assert aa1["bmi"] == pytest.approx(64 / 1.6**2)
    assert aa1["follow_up_days"] == 365
    visits = data.visits[data.visits["patient"] == aa1["patient"]].set_index("timepoint")
    assert visits.loc["preop", "day"] == -2
    assert visits.loc["postop", "day"] == 7
    acuity = data.vertebrae.set_index("level")["acuity"]
    assert acuity["T12"] == "acute_or_subacute"
    assert acuity["L2"] == "chronic"
    assert acuity["T11"] == "indeterminate"


def test_a_site_filter_keeps_only_that_sites_patients(loaded: Registry) -> None:
    data = load_dataset(site="BJ")
    assert len(data.patients) == 1
    assert data.patients["age"].tolist() == [66]
    assert set(data.visits["patient"]) == set(data.patients["patient"])
    with pytest.raises(Exception, match="site 'XX' does not exist"):
        load_dataset(site="XX")
