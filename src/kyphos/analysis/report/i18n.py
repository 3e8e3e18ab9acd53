"""Every word of the study report in English and Chinese, and how numbers are printed.

One catalogue (:data:`MESSAGES`, keyed by message id) holds the report's wording; coded
vocabularies (sex, comorbidities, leakage sites, MRI acuity …) take their labels from
:mod:`kyphos.clinical`, and time-point labels from the study protocol
(:meth:`kyphos.clinical.protocol.TimePoint.label`), so each word lives in one place.

Numbers are rounded here and only here, half away from zero
(:func:`kyphos.clinical.numbers.format_fixed`). Chinese output follows Chinese journal
conventions: "x̄ ± s", "P<0.001", "95%CI", full-width punctuation in running text;
English output "mean ± SD", "P < 0.001". A value that could not be computed prints as
:data:`MISSING` ("—"); the table builder attaches its reason as a footnote.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

from kyphos.analysis.reliability import INTERPRETATION_LABELS
from kyphos.analysis.results import BaselineRemark
from kyphos.clinical import fracture, patient
from kyphos.clinical.errors import ClinicalValueError
from kyphos.clinical.numbers import format_fixed
from kyphos.clinical.protocol import Protocol, parse_key
from kyphos.clinical.values import Labelled

__all__ = [
    "LANGS",
    "MESSAGES",
    "MISSING",
    "Lang",
    "category_label",
    "check_lang",
    "ci",
    "estimate_ci",
    "interpretation_label",
    "leakage_site_label",
    "mean_sd",
    "median_iqr",
    "message",
    "n_of",
    "n_percent",
    "number",
    "outcome_label",
    "outcome_unit",
    "p_statement",
    "p_value",
    "percent",
    "reason",
    "timepoint_label",
    "translate_remark",
    "variable_label",
]

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")

MISSING = "—"
"""What a value that could not be computed prints as (its reason goes in a footnote)."""

P_FLOOR = 0.001
P_DECIMALS = 3

_M = dict[str, dict[Lang, str]]

_REPORT: _M = {
    "report_title": {"en": "Study report", "zh": "研究报告"},
    "generated": {
        "en": "Generated {when} by kyphos {version}.",
        "zh": "生成时间：{when}（kyphos {version}）。",
    },
    "site": {"en": "Site: {site}.", "zh": "中心：{site}。"},
    "all_sites": {"en": "All sites.", "zh": "全部中心。"},
    "demo_note": {
        "en": "Demo data: these patients are synthetic, not a real cohort.",
        "zh": "演示数据：以下患者均为虚拟生成，并非真实队列。",
    },
    "cohort_line": {
        "en": "{patients} patients, {vertebrae} treated vertebrae.",
        "zh": "共{patients}例患者，{vertebrae}个伤椎。",
    },
    "section_methods": {"en": "Statistical methods", "zh": "统计学方法"},
    "section_results": {"en": "Results", "zh": "结果"},
    "section_figures": {"en": "Figures", "zh": "图"},
    "section_notes": {"en": "Notes", "zh": "说明"},
    "table_label": {"en": "Table {n}", "zh": "表{n}"},
    "figure_label": {"en": "Figure {n}", "zh": "图{n}"},
    "note_prefix": {"en": "Note: ", "zh": "注："},
    "not_computed": {"en": "Not computed: {reason}.", "zh": "未计算：{reason}。"},
    "not_applicable": {"en": "", "zh": ""},
    "list_sep": {"en": "; ", "zh": "；"},
    "versus": {"en": "{a} vs {b}", "zh": "{a}与{b}比较"},
    "figures_only_in": {
        "en": "Figures are in the HTML and Word reports.",
        "zh": "图见HTML及Word格式报告。",
    },
}

_TABLES: _M = {
    # titles
    "t_baseline": {
        "en": "Baseline characteristics of {patients} patients ({vertebrae} treated vertebrae)",
        "zh": "{patients}例患者（{vertebrae}个伤椎）基线资料",
    },
    "t_outcomes": {
        "en": "Clinical and radiographic outcomes at each time point (mean ± SD)",
        "zh": "手术前后各时间点临床及影像学指标比较（x̄ ± s）",
    },
    "t_comparisons": {
        "en": "Paired comparisons between time points",
        "zh": "各时间点间配对比较",
    },
    "t_complications": {"en": "Complications", "zh": "并发症情况"},
    "t_agreement": {
        "en": "Agreement between the two observers' radiographic measurements",
        "zh": "两名观察者影像学测量的一致性",
    },
    "t_derived": {
        "en": "Derived radiographic endpoints per treated vertebra",
        "zh": "伤椎影像学衍生指标",
    },
    "t_responders": {
        "en": "Responders: minimal clinically important improvement from baseline",
        "zh": "较术前达到最小临床重要改善的患者",
    },
    "t_mixed": {
        "en": "Sensitivity analysis: linear mixed model on all available observations",
        "zh": "敏感性分析：基于全部观测值的线性混合模型",
    },
    # headers
    "h_characteristic": {"en": "Characteristic", "zh": "项目"},
    "h_value": {"en": "Value", "zh": "数值"},
    "h_outcome": {"en": "Outcome", "zh": "指标"},
    "h_n": {"en": "n", "zh": "n"},
    "h_comparison": {"en": "Comparison", "zh": "比较"},
    "h_mean_diff": {"en": "Mean difference (95% CI)", "zh": "差值均数（95%CI）"},
    "h_t": {"en": "t (df)", "zh": "t值（df）"},
    "h_p": {"en": "P", "zh": "P值"},
    "h_p_holm": {"en": "P (Holm)", "zh": "P值（Holm校正）"},
    "h_dz": {"en": "Cohen's dz", "zh": "Cohen's dz"},
    "h_wilcoxon": {"en": "Wilcoxon P", "zh": "Wilcoxon P值"},
    "h_item": {"en": "Item", "zh": "项目"},
    "h_count": {"en": "n/N", "zh": "n/N"},
    "h_rate": {"en": "Rate (%)", "zh": "发生率（%）"},
    "h_ci": {"en": "95% CI (%)", "zh": "95%CI（%）"},
    "h_pairs": {"en": "Pairs", "zh": "配对数"},
    "h_icc_form": {"en": "ICC form", "zh": "ICC类型"},
    "h_icc": {"en": "ICC (95% CI)", "zh": "ICC（95%CI）"},
    "h_icc3": {"en": "ICC(3,1) (95% CI)", "zh": "ICC(3,1)（95%CI）"},
    "h_interpretation": {"en": "Agreement", "zh": "一致性"},
    "h_bias": {"en": "Bias", "zh": "偏倚"},
    "h_loa": {"en": "95% limits of agreement", "zh": "95%一致性界限"},
    "h_endpoint": {"en": "Endpoint", "zh": "指标"},
    "h_mean_sd": {"en": "Mean ± SD", "zh": "x̄ ± s"},
    "h_median_iqr": {"en": "Median [IQR]", "zh": "中位数[四分位数间距]"},
    "h_range": {"en": "Range", "zh": "范围"},
    "h_timepoint": {"en": "Time point", "zh": "时间点"},
    "h_responders": {"en": "Responders, n/N", "zh": "改善例数/总例数"},
    "h_responder_rate": {"en": "Rate (%)", "zh": "比例（%）"},
    "h_model_mean": {"en": "Model mean (95% CI)", "zh": "模型估计均数（95%CI）"},
    "h_model_diff": {
        "en": "Difference from {reference} (95% CI)",
        "zh": "与{reference}差值（95%CI）",
    },
    "reference_level": {"en": "reference", "zh": "参照"},
    # row labels
    "row_median_iqr": {"en": "Median [IQR]", "zh": "中位数[四分位数间距]"},
    "row_leakage": {"en": "Cement leakage, vertebrae", "zh": "骨水泥渗漏（椎体数）"},
    "row_leakage_site": {"en": "{site}", "zh": "{site}"},
    "row_leakage_symptomatic": {
        "en": "Symptomatic, of leaking vertebrae",
        "zh": "有症状渗漏（占渗漏椎体）",
    },
    "row_leakage_patients": {"en": "Patients with leakage", "zh": "发生渗漏的患者"},
    "row_adjacent": {
        "en": "Adjacent-level fracture, patients",
        "zh": "相邻椎体骨折（患者数）",
    },
    "row_new_fracture_free": {
        "en": "New-fracture-free at {months} months (Kaplan–Meier)",
        "zh": "{months}个月无新发骨折率（Kaplan–Meier）",
    },
    "row_new_fracture_events": {"en": "new fractures", "zh": "新发骨折"},
    "model_group": {
        "en": "{outcome}: {observations} observations, {groups} patients",
        "zh": "{outcome}：{observations}个观测值，{groups}例患者",
    },
    # remarks
    "sig_marker": {"en": "{mark} P < 0.05 vs {label}", "zh": "与{label}比较，{mark}P<0.05"},
    "sig_basis": {
        "en": "Paired t-test on complete pairs, P Holm-adjusted within each outcome "
        "(details in the next table).",
        "zh": "完整配对数据的配对t检验，P值经同一指标内Holm法校正（详见下表）。",
    },
    "n_units": {
        "en": "n: patients for VAS and ODI; treated vertebrae for radiographic outcomes.",
        "zh": "n：VAS、ODI为患者例数，影像学指标为伤椎椎体数。",
    },
    "n_per_timepoint": {
        "en": "Where n differs between time points it is given for each ({points}).",
        "zh": "各时间点n不同时依次列出（{points}）。",
    },
    "comparison_remark": {
        "en": "Mean difference = later − earlier time point on complete pairs, with its 95% CI; "
        "dz = mean difference / SD of the differences.",
        "zh": "差值 = 后一时间点 − 前一时间点（完整配对数据），附95%CI；"
        "dz = 差值均数 / 差值标准差。",
    },
    "wilcoxon_remark": {
        "en": "Wilcoxon signed-rank test: exact distribution for n ≤ 50 with no zero or tied "
        "differences, otherwise the normal approximation ({mark}).",
        "zh": "Wilcoxon符号秩检验：n ≤ 50且差值无0值、无结时用精确分布，否则用正态近似（{mark}）。",
    },
    "dropped_remark": {
        "en": "Pairs left out for a missing value: {items}.",
        "zh": "因数据缺失剔除的配对数：{items}。",
    },
    "baseline_remark": {
        "en": "Continuous variables: mean ± SD; categorical: n (%). Percentages of patients; "
        "level, MRI and posterior wall: of treated vertebrae.",
        "zh": "计量资料以x̄ ± s表示，计数资料以例数（%）表示；"
        "百分比以患者数为分母，伤椎节段、MRI信号及椎体后壁以伤椎数为分母。",
    },
    "complications_remark": {
        "en": "Rates with Wilson 95% CIs. A vertebra may leak at several sites; site "
        "percentages are of treated vertebrae.",
        "zh": "率的95%CI采用Wilson法。同一椎体可有多处渗漏；各部位百分比以伤椎数为分母。",
    },
    "km_remark": {
        "en": "New fracture = adjacent, remote or refracture; censored at the last visit; "
        "Greenwood 95% CI on the log-log scale.",
        "zh": "新发骨折包括相邻椎体骨折、非相邻椎体骨折及原椎体再骨折；以末次随访为删失；"
        "95%CI采用Greenwood法（log-log变换）。",
    },
    "agreement_remark": {
        "en": "Pairs: vertebra and time point read by both observers. ICC(2,1): two-way "
        "random effects, absolute agreement, single measurement; ICC(1,1): one-way random "
        "effects (pairs read by different observers); ICC(3,1): two-way mixed effects, "
        "consistency. Agreement after Koo & Li (2016). Bias = mean of (second − first "
        "observer); limits = bias ± 1.96 SD.",
        "zh": "配对：两名观察者均测量的椎体及时间点。ICC(2,1)：双向随机效应、绝对一致性、单次"
        "测量；ICC(1,1)：单向随机效应（配对由不同观察者测量）；ICC(3,1)：双向混合效应、"
        "一致性。一致性等级参照Koo和Li（2016）。偏倚 = 第二观察者 − 第一观察者之差的均数；"
        "一致性界限 = 偏倚 ± 1.96倍标准差。",
    },
    "adjudicated_remark": {
        "en": "{outcome}: {count} vertebra–time points had an adjudicating reading, which is "
        "the value analysed there; adjudicating readings are not part of the agreement.",
        "zh": "{outcome}：{count} 个椎体–时间点有仲裁阅片，该处分析仲裁者的读数；"
        "仲裁读数不计入一致性分析。",
    },
    "observers_remark": {
        "en": "{outcome}: first observer {first}, second observer {second}.",
        "zh": "{outcome}：第一观察者{first}，第二观察者{second}。",
    },
    "derived_remark": {
        "en": "Per treated vertebra; pre = preoperative, post = postoperative, final = final "
        "follow-up. Height restoration = post − pre; relative to the preoperative height = "
        "(post − pre)/pre × 100; kyphosis correction = pre − post; loss of correction = "
        "final − post; height loss at final follow-up = post − final.",
        "zh": "以伤椎为单位；pre为术前，post为术后，final为末次随访。高度恢复 = post − pre；"
        "相对术前高度 = (post − pre)/pre × 100；后凸矫正 = pre − post；矫正丢失 = "
        "final − post；末次随访高度丢失 = post − final。",
    },
    "responders_remark": {
        "en": "Responder: improvement from baseline ≥ {vas} cm (VAS) or ≥ {odi} points (ODI), "
        "or ≥ {relative}% of the baseline value (Ostelo et al. 2008); Wilson 95% CI.",
        "zh": "改善标准：较术前改善 ≥ {vas} cm（VAS）或 ≥ {odi}分（ODI），或 ≥ 术前值的"
        "{relative}%（Ostelo等，2008）；95%CI采用Wilson法。",
    },
    "mixed_remark": {
        "en": "Outcome ~ time point, random intercept per patient (and per vertebra within "
        "patient for radiographic outcomes), REML, every available observation; Wald "
        "95% CIs.",
        "zh": "模型：指标 ~ 时间点，患者随机截距（影像学指标另加患者内椎体随机截距），"
        "REML估计，纳入全部观测值；95%CI为Wald区间。",
    },
    "not_converged": {
        "en": "the model did not converge; estimates are approximate",
        "zh": "模型未收敛，估计值仅供参考",
    },
    "none_recorded": {"en": "not recorded for anyone", "zh": "均未记录"},
    "km_beyond": {
        "en": "no patient was followed for {months} months",
        "zh": "无患者随访满{months}个月",
    },
    "km_empty": {"en": "no patient has follow-up", "zh": "无患者有随访资料"},
    "no_model": {"en": "the model was not fitted", "zh": "模型未拟合"},
}

_METHODS: _M = {
    "m_descriptive": {
        "en": "Continuous variables are given as mean ± SD (with the median [IQR] where the "
        "distribution is skewed, |skewness| > 1) and categorical variables as n (%).",
        "zh": "计量资料以x̄ ± s表示（偏态分布者［偏度绝对值 > 1］另列中位数［四分位数间距］），"
        "计数资料以例数（%）表示。",
    },
    "m_units": {
        "en": "VAS (cm, 0–10) and ODI were analysed per patient, and the radiographic "
        "outcomes per treated vertebra; the radiographic value of a vertebra at a time "
        "point is the adjudicator's reading where there is one, else the mean of the two "
        "observers' readings. Final follow-up is the visit recorded as final, else the "
        "latest visit from day {final_day} after the index procedure.",
        "zh": "VAS（cm，0～10）及ODI以患者为分析单位，影像学指标以伤椎为分析单位；"
        "伤椎某时间点的影像学数值取仲裁者读数，无仲裁时取两名观察者读数的均值。"
        "末次随访取记录为末次随访的访视，否则取术后第{final_day}天起的最后一次访视。",
    },
    "m_odi": {
        "en": "The ODI (version 2.1a) was scored as the percentage of the maximum over the "
        "answered sections; a score was computed with at most {max_missing} sections "
        "missing and was otherwise left missing.",
        "zh": "ODI（2.1a版）按已回答条目计算得分百分比；缺失条目不超过{max_missing}项时计算"
        "得分，否则该次ODI记为缺失。",
    },
    "m_paired": {
        "en": "Each pair of time points was compared with the paired t-test on complete "
        "pairs (patients or vertebrae with both values; the others were left out), with "
        "the 95% CI of the mean difference and Cohen's dz; P values were Holm-adjusted "
        "within each outcome. The Wilcoxon signed-rank test (exact for n ≤ 50 without zero "
        "or tied differences, otherwise the normal approximation) was done as a check.",
        "zh": "各时间点两两比较采用配对t检验，仅纳入两个时间点均有数据的完整配对（其余剔除），"
        "给出差值均数的95%CI及Cohen's dz；同一指标内的P值经Holm法校正。"
        "另以Wilcoxon符号秩检验（n ≤ 50且差值无0值、无结时用精确分布，否则用正态近似）"
        "作核对。",
    },
    "m_mixed": {
        "en": "As a sensitivity analysis that uses every available observation (valid when "
        "values are missing at random), a linear mixed model with the time point as fixed "
        "effect and a random intercept per patient (and per vertebra within patient for "
        "the radiographic outcomes) was fitted by REML.",
        "zh": "敏感性分析采用线性混合模型（纳入全部观测值，在随机缺失假设下有效），"
        "以时间点为固定效应，患者为随机截距（影像学指标另加患者内椎体随机截距），REML估计。",
    },
    "m_responders": {
        "en": "A responder improved from baseline by ≥ {vas} cm (VAS) or ≥ {odi} points "
        "(ODI), or by ≥ {relative}% of the baseline value.",
        "zh": "较术前VAS改善 ≥ {vas} cm、ODI改善 ≥ {odi}分，或改善 ≥ 术前值的{relative}%"
        "者视为达到最小临床重要改善。",
    },
    "m_rates": {
        "en": "Rates are given with Wilson 95% CIs; new-fracture-free survival was "
        "estimated by the Kaplan–Meier method with Greenwood 95% CIs on the log-log scale, "
        "censoring at the last visit.",
        "zh": "率的95%CI采用Wilson法；无新发骨折生存率采用Kaplan–Meier法估计，以末次随访为"
        "删失，95%CI采用Greenwood法（log-log变换）。",
    },
    "m_agreement": {
        "en": "Agreement between the two observers was assessed on every vertebra and time "
        "point both read, with {forms} and the Bland–Altman bias and 95% limits of "
        "agreement (bias ± 1.96 SD); ICCs were interpreted after Koo and Li (2016).",
        "zh": "两名观察者的测量一致性以两人均测量的椎体及时间点评价，采用{forms}，以及"
        "Bland–Altman偏倚和95%一致性界限（偏倚 ± 1.96倍标准差）；ICC按Koo和Li（2016）"
        "标准判断。",
    },
    "m_agreement_none": {
        "en": "No vertebra was read by two observers at the same time point, so observer "
        "agreement was not assessed.",
        "zh": "无椎体在同一时间点由两名观察者测量，故未评价观察者间一致性。",
    },
    "m_form_ICC(2,1)": {
        "en": "the ICC(2,1) (two-way random effects, absolute agreement, single measurement)",
        "zh": "ICC(2,1)（双向随机效应、绝对一致性、单次测量）",
    },
    "m_form_ICC(1,1)": {
        "en": "the ICC(1,1) (one-way random effects, since different observers read the pairs)",
        "zh": "ICC(1,1)（单向随机效应，因配对由不同观察者测量）",
    },
    "m_forms_join": {"en": " and ", "zh": "及"},
    "m_alpha": {
        "en": "Tests were two-sided with P < 0.05 considered significant. Analyses were "
        "done with kyphos {version}.",
        "zh": "均为双侧检验，以P<0.05为差异有统计学意义。统计分析采用kyphos {version}完成。",
    },
}

_FIGURES: _M = {
    "f_outcome": {
        "en": "{outcome}: mean with 95% CI at each time point; thin lines: individual {units}",
        "zh": "{outcome}：各时间点均数及95%CI；细线为单个{units}",
    },
    "f_sampled": {
        "en": "{outcome}: mean with 95% CI at each time point; thin lines: {shown} of "
        "{total} individual {units} (an evenly spaced sample)",
        "zh": "{outcome}：各时间点均数及95%CI；细线为{total}个{units}中等距抽取的{shown}个",
    },
    "f_units_patient": {"en": "patients", "zh": "患者"},
    "f_units_vertebra": {"en": "vertebrae", "zh": "伤椎"},
    "f_mean_ci": {"en": "Mean (95% CI)", "zh": "均数（95%CI）"},
    "f_individual": {"en": "Individual {units}", "zh": "单个{units}"},
    "f_bland_altman": {
        "en": "Bland–Altman plot of {outcome}: difference against mean of the two observers",
        "zh": "{outcome}的Bland–Altman图：两名观察者差值对均值",
    },
    "f_ba_x": {"en": "Mean of the two observers ({unit})", "zh": "两名观察者均值（{unit}）"},
    "f_ba_y": {
        "en": "Second − first observer ({unit})",
        "zh": "第二 − 第一观察者（{unit}）",
    },
    "f_bias": {"en": "Bias {value}", "zh": "偏倚 {value}"},
    "f_upper": {"en": "+1.96 SD {value}", "zh": "+1.96 SD {value}"},
    "f_lower": {"en": "−1.96 SD {value}", "zh": "−1.96 SD {value}"},
    "f_spine": {
        "en": "Treated levels (C7–L5): treated vertebrae per level, cement leakage hatched",
        "zh": "伤椎节段分布（C7～L5）：各节段伤椎数，斜线示骨水泥渗漏",
    },
    "f_treated": {"en": "Treated vertebrae", "zh": "伤椎"},
    "f_leakage": {"en": "With cement leakage", "zh": "骨水泥渗漏"},
    "f_count": {"en": "Vertebrae", "zh": "椎体数"},
    "f_km": {
        "en": "Kaplan–Meier curve of new-fracture-free survival with 95% CI (+ censored)",
        "zh": "无新发骨折生存Kaplan–Meier曲线及95%CI（+为删失）",
    },
    "f_km_x": {"en": "Months after the index procedure", "zh": "术后时间（月）"},
    "f_km_y": {"en": "New-fracture-free (%)", "zh": "无新发骨折率（%）"},
    "f_km_at_risk": {"en": "At risk", "zh": "风险人数"},
    "f_km_survival": {"en": "Kaplan–Meier estimate", "zh": "Kaplan–Meier估计"},
    "f_ci": {"en": "95% CI", "zh": "95%CI"},
    "f_censored": {"en": "Censored", "zh": "删失"},
    "f_no_font": {
        "en": "",
        "zh": "未找到中文字体（请安装 fonts-noto-cjk），图中标注以英文显示。",
    },
    "f_not_drawn": {
        "en": "{figure} not drawn: {reason}.",
        "zh": "{figure}未绘制：{reason}。",
    },
    "f_ba_name": {"en": "Bland–Altman plot of {outcome}", "zh": "{outcome}的Bland–Altman图"},
    "f_km_name": {"en": "Kaplan–Meier curve", "zh": "Kaplan–Meier曲线"},
    "f_outcome_name": {"en": "Plot of {outcome}", "zh": "{outcome}变化图"},
    "f_spine_name": {"en": "Spine schematic", "zh": "节段分布图"},
    "f_no_pairs": {
        "en": "no vertebra was read by two observers",
        "zh": "无椎体由两名观察者测量",
    },
    "f_no_values": {"en": "no values", "zh": "无数据"},
    "f_no_treated": {"en": "no treated vertebra", "zh": "无伤椎"},
}

_EVIDENCE: _M = {
    "t_evidence": {
        "en": "This cohort beside a published cohort: {citation}",
        "zh": "本组与已发表病例组比较：{citation}",
    },
    "h_own_n": {"en": "This cohort, n", "zh": "本组n"},
    "h_own_value": {"en": "This cohort", "zh": "本组"},
    "h_reference_n": {"en": "Reference, n", "zh": "文献组n"},
    "h_reference_value": {"en": "Reference", "zh": "文献组"},
    "h_difference": {"en": "Difference (95% CI)", "zh": "差值（95%CI）"},
    "g_evidence_baseline": {"en": "Baseline", "zh": "基线"},
    "g_evidence_change": {
        "en": "Change from {timepoint} (mean, 95% CI)",
        "zh": "较{timepoint}的变化（均数，95%CI）",
    },
    "row_evidence_patients": {"en": "Patients", "zh": "患者例数"},
    "row_evidence_sex": {"en": "Men / women", "zh": "男/女"},
    "row_evidence_age": {"en": "Age (years), mean ± SD", "zh": "年龄（岁），x̄ ± s"},
    "row_evidence_change": {"en": "{outcome}: {a} → {b}", "zh": "{outcome}：{a}→{b}"},
    "evidence_remark": {
        "en": "Values are mean ± SD. Difference = this cohort − reference, with the Welch "
        "95% CI from the summary statistics. A change from baseline has a CI only where "
        "the SD of the change is known.",
        "zh": "数据以x̄ ± s表示。差值＝本组－文献组，95%CI按汇总统计量以Welch法计算；"
        "较基线的变化仅在变化值标准差已知时给出95%CI。",
    },
    "evidence_source": {"en": "Reference: {reference}.", "zh": "文献：{reference}。"},
    "evidence_not_compared": {
        "en": "{outcome} not compared: {reason}.",
        "zh": "{outcome}未比较：{reason}。",
    },
    "evidence_none": {
        "en": "No published cohort is installed (kyphos evidence add FILE).",
        "zh": "未安装已发表病例组（kyphos evidence add FILE）。",
    },
    "f_forest": {
        "en": "This cohort − {citation}: difference in means with 95% CI per outcome and "
        "time point",
        "zh": "本组－{citation}：各指标各时间点均数差值及95%CI",
    },
    "f_forest_name": {"en": "Forest plot beside {citation}", "zh": "与{citation}比较的森林图"},
    "f_forest_empty": {
        "en": "no outcome has a difference with a confidence interval",
        "zh": "无可计算置信区间的差值",
    },
    "f_forest_x": {"en": "This cohort − reference", "zh": "本组－文献组"},
}


MESSAGES: Mapping[str, Mapping[Lang, str]] = MappingProxyType(
    {
        key: MappingProxyType(value)
        for catalogue in (_REPORT, _TABLES, _METHODS, _FIGURES, _EVIDENCE)
        for key, value in catalogue.items()
    }
)
"""Message id → {"en": …, "zh": …}; ``{name}`` fields are filled by :func:`message`."""


def check_lang(lang: str) -> Lang:
    """``lang`` if kyphos reports in it (``en`` or ``zh``), else ``ValueError``."""
    if lang == "en":
        return "en"
    if lang == "zh":
        return "zh"
    raise ValueError(f"{lang!r} is not a report language: use one of {', '.join(LANGS)}")


def message(key: str, lang: str, **values: object) -> str:
    """The message ``key`` in ``lang`` with its ``{fields}`` filled in."""
    entry = MESSAGES.get(key)
    if entry is None:
        raise KeyError(f"{key!r} is not a report message id")
    return entry[check_lang(lang)].format(**values)


# --- names of things ------------------------------------------------------------------------

_OUTCOMES: dict[str, dict[Lang, str]] = {
    "vas": {"en": "VAS (cm)", "zh": "VAS评分(cm)"},
    "odi": {"en": "ODI (%)", "zh": "ODI(%)"},
    "anterior_height_mm": {"en": "Anterior vertebral height (mm)", "zh": "伤椎前缘高度(mm)"},
    "kyphotic_angle_deg": {"en": "Kyphotic (Cobb) angle (°)", "zh": "后凸Cobb角(°)"},
    "middle_height_mm": {"en": "Middle vertebral height (mm)", "zh": "伤椎中部高度(mm)"},
    "posterior_height_mm": {"en": "Posterior vertebral height (mm)", "zh": "伤椎后缘高度(mm)"},
    "wedge_angle_deg": {"en": "Wedge angle (°)", "zh": "楔形角(°)"},
    "height_restoration_mm": {"en": "Height restoration (mm)", "zh": "高度恢复(mm)"},
    "height_restoration_relative_to_pre_percent": {
        "en": "Height restoration relative to the preoperative height (%)",
        "zh": "高度恢复率（相对术前高度，%）",
    },
    "kyphosis_correction_deg": {"en": "Kyphosis correction (°)", "zh": "后凸矫正角度(°)"},
    "loss_of_correction_deg": {"en": "Loss of correction (°)", "zh": "矫正角度丢失(°)"},
    "height_loss_at_final_mm": {
        "en": "Height loss at final follow-up (mm)",
        "zh": "末次随访高度丢失(mm)",
    },
}

_UNITS: dict[str, dict[Lang, str]] = {
    "vas": {"en": "cm", "zh": "cm"},
    "odi": {"en": "%", "zh": "%"},
    "anterior_height_mm": {"en": "mm", "zh": "mm"},
    "middle_height_mm": {"en": "mm", "zh": "mm"},
    "posterior_height_mm": {"en": "mm", "zh": "mm"},
    "kyphotic_angle_deg": {"en": "°", "zh": "°"},
    "wedge_angle_deg": {"en": "°", "zh": "°"},
}

_VARIABLES: dict[str, dict[Lang, str]] = {
    "age": {"en": "Age (years)", "zh": "年龄(岁)"},
    "bmi": {"en": "BMI (kg/m²)", "zh": "体质量指数(kg/m²)"},
    "bmd_t_score": {"en": "BMD T-score", "zh": "骨密度T值"},
    "follow_up_months": {"en": "Follow-up (months)", "zh": "随访时间(月)"},
    "sex": {"en": "Sex, n (%)", "zh": "性别，例(%)"},
    "comorbidities": {"en": "Comorbidities, n (%)", "zh": "合并症，例(%)"},
    "injury_mechanism": {"en": "Injury mechanism, n (%)", "zh": "受伤原因，例(%)"},
    "level": {"en": "Treated level, n (%) of vertebrae", "zh": "伤椎节段，椎(%)"},
    "mri_acuity": {"en": "MRI acuity, n (%) of vertebrae", "zh": "MRI信号分期，椎(%)"},
    "posterior_wall": {"en": "Posterior wall, n (%) of vertebrae", "zh": "椎体后壁，椎(%)"},
}
"""Baseline variables (Table 1), categorical ones with the "n (%)" of their rows."""

_SHORT_VARIABLES: dict[str, dict[Lang, str]] = {
    "age": {"en": "Age", "zh": "年龄"},
    "bmi": {"en": "BMI", "zh": "体质量指数"},
    "bmd_t_score": {"en": "BMD T-score", "zh": "骨密度T值"},
    "follow_up_months": {"en": "Follow-up", "zh": "随访时间"},
    "comorbidities": {"en": "Comorbidities", "zh": "合并症"},
}

_VOCABULARIES: dict[str, type[Labelled]] = {
    "sex": patient.Sex,
    "comorbidities": patient.Comorbidity,
    "injury_mechanism": patient.InjuryMechanism,
    "mri_acuity": fracture.Acuity,
}

_CATEGORIES: dict[str, dict[str, dict[Lang, str]]] = {
    "comorbidities": {"none": {"en": "no comorbidity", "zh": "无"}},
    "posterior_wall": {
        "intact": {"en": "intact", "zh": "完整"},
        "not_intact": {"en": "not intact", "zh": "不完整"},
    },
}


def outcome_label(name: str, lang: str) -> str:
    """The outcome's name with its unit (``VAS (cm)`` / ``VAS评分(cm)``); else ``name``."""
    entry = _OUTCOMES.get(name)
    return entry[check_lang(lang)] if entry else name


def outcome_unit(name: str, lang: str) -> str:
    """The unit of an outcome (``cm``, ``%``, ``mm``, ``°``); empty when unknown."""
    entry = _UNITS.get(name)
    return entry[check_lang(lang)] if entry else ""


def variable_label(variable: str, lang: str, *, short: bool = False) -> str:
    """The Table 1 label of a baseline variable (``short``: without unit or "n (%)")."""
    source = _SHORT_VARIABLES if short and variable in _SHORT_VARIABLES else _VARIABLES
    entry = source.get(variable)
    return entry[check_lang(lang)] if entry else variable


def _capitalised(text: str, lang: Lang) -> str:
    return text[:1].upper() + text[1:] if lang == "en" else text


def category_label(variable: str, code: str, lang: str) -> str:
    """The label of one category of a baseline variable (sex ``M`` → ``Male`` / ``男``)."""
    chosen = check_lang(lang)
    fixed = _CATEGORIES.get(variable, {}).get(code)
    if fixed is not None:
        return _capitalised(fixed[chosen], chosen)
    vocabulary = _VOCABULARIES.get(variable)
    if vocabulary is not None:
        for member in vocabulary:
            if member.value == code:
                return _capitalised(member.label(chosen), chosen)
    return code


def leakage_site_label(code: str, lang: str) -> str:
    """A cement-leakage site (``intradiscal`` → ``Intradiscal`` / ``椎间盘内``)."""
    chosen = check_lang(lang)
    for member in fracture.LeakageSite:
        if member.value == code:
            return _capitalised(member.label(chosen), chosen)
    return code


def interpretation_label(category: str | None, lang: str) -> str | None:
    """Koo & Li's category of an ICC in ``lang`` (``excellent`` / ``优秀``)."""
    if category is None:
        return None
    chosen = check_lang(lang)
    for name, labels in INTERPRETATION_LABELS.items():
        if name == category:
            return _capitalised(labels[chosen], chosen)
    return category


def timepoint_label(key: str, lang: str, protocol: Protocol | None = None) -> str:
    """The protocol's label of a time point (``postop`` → ``术后1周``).

    Labels come from ``protocol`` when it has the key, else from the default label of
    the key (:func:`kyphos.clinical.protocol.parse_key`); an unreadable key is printed
    as it is.
    """
    chosen = check_lang(lang)
    if protocol is not None:
        point = protocol.get(key)
        if point is not None:
            return point.label(chosen)
    try:
        return parse_key(key).label(chosen)
    except ClinicalValueError:
        return key


_REASONS_ZH = {
    "n < 2": "样本量 n < 2",
    "no values": "无数据",
    "no complete pairs": "无完整配对数据",
    "the differences do not vary": "差值无变异",
    "all differences are zero": "差值均为0",
    "total is 0": "分母为0",
    "not computable": "无法计算",
    "not fitted": "模型未拟合",
    "no ratings": "无测量值",
    "fewer than 2 raters": "观察者少于2名",
    "fewer than 2 targets with every rating": "测量完整的对象少于2个",
    "no vertebra and time point has two primary readings": "无椎体在同一时间点有两名观察者读数",
    "a single time point: there is nothing to compare": "仅有一个时间点，无可比较",
    "no patient has more than one observation": "无患者有一个以上观测值",
    "no more observations than fixed effects": "观测值不多于固定效应参数",
    "the confidence interval is not defined for these data": "该数据下置信区间无定义",
    "not printed by the reference": "文献未报告",
    "not printed by the reference at this time point": "文献未报告该时间点数据",
    "the two time points' n differ and the number of pairs is not printed": (
        "两时间点例数不同，且文献未报告配对数"
    ),
    "the printed paired t is impossible given the printed means and SDs (kyphos evidence "
    "check shows the attainable range), so the SD of the change cannot be derived from it": (
        "文献报告的配对t值与其报告的均数和标准差不相容（可用kyphos evidence check查看可能范围），"
        "无法据此推算变化值的标准差"
    ),
    "the printed t is 0: the SD of the change cannot be derived": (
        "文献报告的t值为0，无法推算变化值的标准差"
    ),
    "the SD of the change is not known: the reference prints no paired t for this change": (
        "变化值标准差未知：文献未报告该变化的配对t值"
    ),
    "the SD of the change is not known: the number of pairs is not printed": (
        "变化值标准差未知：文献未报告配对数"
    ),
    "not an outcome of your report": "非本报告指标",
    "not reported by the reference": "文献未报告",
}


def reason(text: str, lang: str) -> str:
    """A reason why a value is missing, in ``lang`` (reasons come from the statistics in
    English; known ones are translated, others are shown as they are)."""
    if check_lang(lang) == "en":
        return text
    return _REASONS_ZH.get(text, text)


def translate_remark(remark: BaselineRemark, lang: str) -> str:
    """A Table 1 remark of :func:`kyphos.analysis.results.compute_report` in ``lang``,
    with the variable's label."""
    chosen = check_lang(lang)
    name = variable_label(remark.variable, chosen, short=True)
    if remark.kind == "recorded":
        if chosen == "zh":
            return f"{name}：{remark.total}例中{remark.n}例有记录。"
        return f"{name}: recorded for {remark.n} of {remark.total} patients."
    if remark.kind == "skewed":
        if chosen == "zh":
            return f"{name}：偏态分布，另列中位数[四分位数间距]。"
        return f"{name}: skewed distribution; median [IQR] given as well."
    if chosen == "zh":
        return f"{name}：样本量小（n = {remark.n}），结果需谨慎解读。"
    return f"{name}: small n ({remark.n}); interpret with care."


# --- numbers ----------------------------------------------------------------------------------


def number(value: float | None, decimals: int) -> str:
    """``value`` with ``decimals`` places, halves away from zero; ``—`` for None."""
    if value is None:
        return MISSING
    return format_fixed(value, decimals)


def mean_sd(mean: float | None, sd: float | None, decimals: int) -> str:
    """``8.38 ± 0.60`` (x̄ ± s); a missing part prints as ``—``."""
    if mean is None:
        return MISSING
    return f"{number(mean, decimals)} ± {number(sd, decimals)}"


def median_iqr(
    median: float | None, q1: float | None, q3: float | None, decimals: int, lang: str
) -> str:
    """``23.15 [21.10, 25.36]`` (median [Q1, Q3]); ``—`` when the median is missing."""
    if median is None:
        return MISSING
    separator = ", " if check_lang(lang) == "en" else "，"
    return f"{number(median, decimals)} [{number(q1, decimals)}{separator}{number(q3, decimals)}]"


def p_value(p: float | None, lang: str) -> str:
    """A P value for a table cell: three decimals, below 0.001 ``<0.001`` (both
    languages: a table cell must not break between "<" and the number)."""
    check_lang(lang)
    if p is None:
        return MISSING
    if p < P_FLOOR:
        return "<0.001"
    return format_fixed(p, P_DECIMALS)


def p_statement(p: float | None, lang: str) -> str:
    """A P value in running text: ``P < 0.001``, ``P = 0.032`` (zh: ``P<0.001``)."""
    chosen = check_lang(lang)
    if p is None:
        return f"P = {MISSING}" if chosen == "en" else f"P={MISSING}"
    if p < P_FLOOR:
        return "P < 0.001" if chosen == "en" else "P<0.001"
    text = format_fixed(p, P_DECIMALS)
    return f"P = {text}" if chosen == "en" else f"P={text}"


def percent(rate: float | None, decimals: int = 1) -> str:
    """A proportion (0–1) as a percentage number without the sign: 0.1077 → ``10.8``."""
    return MISSING if rate is None else format_fixed(rate * 100.0, decimals)


def n_percent(count: int, total: int, decimals: int = 1) -> str:
    """``10 (24.4)``: the count and its percentage of ``total`` (``—`` when total is 0)."""
    rate = count / total if total else None
    return f"{count} ({percent(rate, decimals)})"


def n_of(count: int, total: int) -> str:
    """``7/65``."""
    return f"{count}/{total}"


def ci(interval: tuple[float, float] | None, decimals: int, lang: str, scale: float = 1.0) -> str:
    """A 95 % CI: ``10.25 to 11.03`` (en) / ``10.25～11.03`` (zh); ``—`` when missing."""
    chosen = check_lang(lang)
    if interval is None:
        return MISSING
    low, high = (number(bound * scale, decimals) for bound in interval)
    return f"{low} to {high}" if chosen == "en" else f"{low}～{high}"


def estimate_ci(
    estimate: float | None, interval: tuple[float, float] | None, decimals: int, lang: str
) -> str:
    """``10.64 (10.25 to 11.03)`` / ``10.64（10.25～11.03）``; ``—`` when missing."""
    if estimate is None:
        return MISSING
    inner = ci(interval, decimals, lang)
    if check_lang(lang) == "zh":
        return f"{number(estimate, decimals)}（{inner}）"
    return f"{number(estimate, decimals)} ({inner})"
