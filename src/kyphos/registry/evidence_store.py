"""Published cohorts stored in the registry (``kyphos evidence add|list``).

The registry keeps each cohort file's JSON as text, under the file's ``key``; it does
not read the format (that is :mod:`kyphos.analysis.evidence`, which validates a file
before it gets here and parses what comes back). Stored cohorts live in the
``evidence_cohort`` table, so they are in every backup and on either database, and
every add or replacement is one audit event with the row before and after.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select

from kyphos.errors import KyphosError, NotFoundError
from kyphos.registry.models import EvidenceCohort
from kyphos.registry.repository import Registry, snapshot

ENTITY = "evidence_cohort"
MAX_KEY_CHARS = 64
MAX_CITATION_CHARS = 300
MAX_SOURCE_CHARS = 300

AddOutcome = Literal["created", "replaced", "unchanged"]


@dataclass(frozen=True)
class StoredCohort:
    """One stored cohort: its key, short citation, the file's JSON text and when added."""

    key: str
    citation: str
    content: str
    sha256: str
    source_name: str | None
    added_at: dt.datetime


def _stored(row: EvidenceCohort) -> StoredCohort:
    return StoredCohort(
        key=row.key,
        citation=row.citation,
        content=row.content,
        sha256=row.sha256,
        source_name=row.source_name,
        added_at=row.added_at,
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def add(
    registry: Registry,
    *,
    key: str,
    citation: str,
    content: str,
    source_name: str | None = None,
) -> AddOutcome:
    """Store ``content`` under ``key``: ``created``, ``replaced`` or ``unchanged``.

    Audited: ``create`` (after) for a new key, ``update`` (before and after) for a
    replacement. Re-adding identical content changes nothing and records nothing.
    """
    if not key or len(key) > MAX_KEY_CHARS:
        raise KyphosError(f"evidence key {key!r}: use 1–{MAX_KEY_CHARS} characters")
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
    citation = _clip(citation, MAX_CITATION_CHARS)
    source = None if source_name is None else _clip(source_name, MAX_SOURCE_CHARS)
    with registry.write() as session:
        row = session.execute(
            select(EvidenceCohort).where(EvidenceCohort.key == key)
        ).scalar_one_or_none()
        if row is None:
            row = EvidenceCohort(
                key=key,
                citation=citation,
                content=content,
                sha256=digest,
                source_name=source,
                added_at=dt.datetime.now(dt.UTC),
            )
            session.add(row)
            session.flush()
            registry.record(
                session,
                action="create",
                entity=ENTITY,
                entity_key=key,
                after=snapshot(row, registry.secret),
            )
            return "created"
        if row.sha256 == digest and row.citation == citation and row.source_name == source:
            return "unchanged"
        before = snapshot(row, registry.secret)
        row.citation = citation
        row.content = content
        row.sha256 = digest
        row.source_name = source
        row.added_at = dt.datetime.now(dt.UTC)
        session.flush()
        registry.record(
            session,
            action="update",
            entity=ENTITY,
            entity_key=key,
            before=before,
            after=snapshot(row, registry.secret),
            reason="the cohort was added again with the same key",
        )
        return "replaced"


def get_all(registry: Registry) -> list[StoredCohort]:
    """Every stored cohort, by key."""
    with registry.read() as session:
        rows = session.execute(select(EvidenceCohort).order_by(EvidenceCohort.key)).scalars()
        return [_stored(row) for row in rows]


def get(registry: Registry, key: str) -> StoredCohort:
    """The stored cohort ``key``; NotFoundError when there is none."""
    with registry.read() as session:
        row = session.execute(
            select(EvidenceCohort).where(EvidenceCohort.key == key)
        ).scalar_one_or_none()
        if row is None:
            raise NotFoundError(f"no stored cohort has the key {key!r}")
        return _stored(row)
