"""Signing in: password check, throttling and the audit trail of every attempt.

After :data:`FREE_FAILURES` consecutive failed attempts for a user name, the next
attempt waits :func:`delay_after` seconds from the last failure (15 s, then doubling,
at most 15 minutes). The count comes from the audit trail itself (``login_failed``
events since the last ``login``), so it holds across app workers and restarts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy import select

from kyphos.clinical.values import NUL
from kyphos.registry.access import Principal
from kyphos.registry.models import AuditEvent, User
from kyphos.registry.repository import Registry

FREE_FAILURES = 5
FIRST_DELAY_SECONDS = 15
MAX_DELAY_SECONDS = 15 * 60
LOOK_BACK_EVENTS = 50
LOGIN_ENTITY = "login"
ANONYMOUS = "anonymous"
MAX_USERNAME_CHARS = 64


def delay_after(failures: int) -> int:
    """Seconds to wait after ``failures`` consecutive failures (0 for the first five)."""
    if failures < FREE_FAILURES:
        return 0
    return int(min(FIRST_DELAY_SECONDS * 2 ** (failures - FREE_FAILURES), MAX_DELAY_SECONDS))


@dataclass(frozen=True)
class SignIn:
    """The outcome: a principal, or why not (``throttled_for`` seconds still to wait)."""

    principal: Principal | None
    lang: str = "en"
    throttled_for: int = 0


def _failures(registry: Registry, key: str) -> tuple[int, dt.datetime | None]:
    with registry.read() as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.at)
            .where(AuditEvent.entity == LOGIN_ENTITY, AuditEvent.entity_key == key)
            .order_by(AuditEvent.id.desc())
            .limit(LOOK_BACK_EVENTS)
        ).all()
    count = 0
    last: dt.datetime | None = None
    for action, at in rows:
        if action != "login_failed":
            break
        if last is None:
            last = dt.datetime.fromisoformat(at)
        count += 1
    return count, last


def sign_in(
    registry: Registry, username: str, password: str, *, now: dt.datetime, via: str
) -> SignIn:
    """Check a user name and password under the throttle; audit the attempt."""
    # No user name holds NUL (PostgreSQL cannot store it): such an attempt fails like any
    # wrong name, audited and throttled under the name with NUL shown as U+FFFD.
    key = username.strip()[:MAX_USERNAME_CHARS].replace(NUL, "\N{REPLACEMENT CHARACTER}")
    failures, last = _failures(registry, key)
    wait = delay_after(failures)
    if wait and last is not None:
        remaining = (last + dt.timedelta(seconds=wait) - now).total_seconds()
        if remaining > 0:
            return SignIn(principal=None, throttled_for=max(1, int(remaining + 0.999)))
    user = registry.check_password(key, password) if key and password else None
    acting = replace(registry, actor=user.username if user is not None else ANONYMOUS)
    with acting.write() as session:
        action = "login" if user is not None else "login_failed"
        acting.record(
            session, action=action, entity=LOGIN_ENTITY, entity_key=key, reason=via, at=now
        )
        fresh = session.get(User, user.id) if user is not None else None
        principal = Principal.of(fresh) if fresh is not None else None
        lang = fresh.lang if fresh is not None else "en"
    return SignIn(principal=principal, lang=lang)
