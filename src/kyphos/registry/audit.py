"""The audit trail: one append-only hash chain per registry.

Every create, update and delete (and import, export, identity erasure …) appends an
:class:`~kyphos.registry.models.AuditEvent`: when, who, what action on which entity,
the values before and after, a reason, and the hash of the previous event. The hash
of an event covers all of its fields and the previous hash, so changing, removing or
reordering any event breaks every later link; :func:`verify` finds the first break.

Writers take the chain head under a lock: on PostgreSQL a transaction-level advisory
lock, on SQLite the database write lock that ``BEGIN IMMEDIATE`` takes
(:mod:`kyphos.registry.db`). The head is then cached for the rest of the transaction.

Identity fields (name, hospital number, phone) never enter the chain in clear: a
keyed hash (HMAC-SHA-256 with the registry's secret) stands in for each value, so a
patient's identity can be erased later without breaking the chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from kyphos.registry.models import AuditEvent

GENESIS = "0" * 64
IDENTITY_FIELDS = frozenset({"full_name", "hospital_number", "phone"})
_ADVISORY_LOCK_KEY = 0x6B7970686F73  # "kyphos"
_HEAD = "kyphos_audit_head"


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces, dates as ISO text)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_iso
    )


def _iso(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return ";".join(sorted(str(v) for v in value))  # pragma: no cover - callers pass text
    return str(value)


def event_hash(
    prev_hash: str,
    at: str,
    actor: str,
    action: str,
    entity: str,
    entity_key: str | None,
    before: str | None,
    after: str | None,
    reason: str | None,
) -> str:
    payload = canonical_json(
        [prev_hash, at, actor, action, entity, entity_key, before, after, reason]
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def mask_identity(values: Mapping[str, Any] | None, secret: bytes) -> dict[str, Any] | None:
    """``values`` with every identity field replaced by its keyed hash."""
    if values is None:
        return None
    masked: dict[str, Any] = {}
    for key, value in values.items():
        if key in IDENTITY_FIELDS and value is not None:
            digest = hmac.new(secret, f"{key}:{value}".encode(), hashlib.sha256).hexdigest()
            masked[key] = f"hmac:{digest[:32]}"
        else:
            masked[key] = value
    return masked


def lock_chain(session: Session) -> str:
    """Take the chain head under a lock for this transaction; return its hash."""
    cached = session.info.get(_HEAD)
    if cached is not None:
        return str(cached)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    last = session.execute(
        select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).scalar_one_or_none()
    head = last or GENESIS
    session.info[_HEAD] = head
    return head


def forget_head(session: Session) -> None:
    """Drop the cached head (after a commit or rollback)."""
    session.info.pop(_HEAD, None)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_key: str | None = None,
    before: Mapping[str, Any] | list[Any] | None = None,
    after: Mapping[str, Any] | list[Any] | None = None,
    reason: str | None = None,
    at: dt.datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain (in the caller's transaction).

    ``before``/``after`` must already have identity values masked
    (:func:`mask_identity`); the repository does that.
    """
    prev_hash = lock_chain(session)
    stamp = (at or dt.datetime.now(dt.UTC)).isoformat(timespec="microseconds")
    before_text = None if before is None else canonical_json(before)
    after_text = None if after is None else canonical_json(after)
    digest = event_hash(
        prev_hash, stamp, actor, action, entity, entity_key, before_text, after_text, reason
    )
    event = AuditEvent(
        at=stamp,
        actor=actor,
        action=action,
        entity=entity,
        entity_key=entity_key,
        before=before_text,
        after=after_text,
        reason=reason,
        prev_hash=prev_hash,
        hash=digest,
    )
    session.add(event)
    session.flush()
    session.info[_HEAD] = digest
    return event


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify` found: events checked and the first broken link, if any."""

    checked: int
    broken_at: int | None = None
    problem: str | None = None
    head: str = GENESIS
    """The hash of the last intact event: write it down to detect a truncated tail later."""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def verify(session: Session, *, batch: int = 5000) -> ChainReport:
    """Recompute the chain from the first event; report the first broken link."""
    expected_prev = GENESIS
    checked = 0
    last_id = 0
    while True:
        rows = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return ChainReport(checked=checked, head=expected_prev)
        for event in rows:
            if event.prev_hash != expected_prev:
                return ChainReport(
                    checked,
                    event.id,
                    "its link to the previous event does not match"
                    " (an event before it was removed, added or reordered)",
                )
            digest = event_hash(
                event.prev_hash,
                event.at,
                event.actor,
                event.action,
                event.entity,
                event.entity_key,
                event.before,
                event.after,
                event.reason,
            )
            if digest != event.hash:
                return ChainReport(
                    checked, event.id, "its content does not match its hash (edited)"
                )
            expected_prev = event.hash
            checked += 1
            last_id = event.id
        session.expunge_all()
