"""Errors a user can act on, outside the clinical layer.

The CLI, the importer and (later) the web app show these as located lines and
never as a traceback. Clinical values raise
:class:`kyphos.clinical.errors.ClinicalValueError` instead.
"""

from __future__ import annotations

from collections.abc import Sequence


class KyphosError(Exception):
    """A problem the user can fix; ``problems`` holds one line per problem."""

    def __init__(self, *problems: str) -> None:
        if not problems:
            raise ValueError("KyphosError needs a message")
        self.problems: tuple[str, ...] = tuple(problems)
        super().__init__("\n".join(problems))

    @classmethod
    def of(cls, problems: Sequence[str]) -> KyphosError:
        return cls(*problems)


class NotFoundError(KyphosError):
    """The thing asked for does not exist (or is not visible to this user)."""


class ConflictError(KyphosError):
    """Someone saved the record first: the update was refused, nothing was lost."""


class SchemaError(KyphosError):
    """The database is missing, not initialised, or from a newer kyphos."""
