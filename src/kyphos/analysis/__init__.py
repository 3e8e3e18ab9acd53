"""Analysis: the study dataset, statistics, and the study report.

For notebooks: ``kyphos.analysis.load_dataset(database_url=None, site=None)`` returns the
registry as de-identified pandas frames (:class:`kyphos.analysis.dataset.StudyDataset`).
"""

from kyphos.analysis.dataset import StudyDataset, load_dataset

__all__ = ["StudyDataset", "load_dataset"]
