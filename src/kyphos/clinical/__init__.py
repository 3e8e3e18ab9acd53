"""The clinical core of kyphos: scores, scales, geometry and rules, with no I/O.

Every clinical rule lives here once (DESIGN.md): level names, ODI and VAS,
landmark geometry, Genant grade, MRI acuity, leakage and adverse-event
vocabularies, visit protocols and windows. Importers, forms and the report call
these functions; none re-implements them. This package imports nothing else
from kyphos and nothing heavier than the standard library, numpy and PyYAML.
"""

from kyphos.clinical.errors import ClinicalValueError, ClinicalValueErrors

__all__ = ["ClinicalValueError", "ClinicalValueErrors"]
