"""The registry as a use-case API: open it, initialise it, change it under audit.

:class:`Registry` bundles the engine, the registry's secret and the acting user.
Every write goes through :meth:`Registry.write`, a transaction that appends to the
audit chain; :func:`snapshot` gives the before/after values of a row with identity
fields masked.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from kyphos.clinical.protocol import DEFAULT_PROTOCOL, Protocol, classify
from kyphos.config import Settings, ensure_secret, get_settings, read_secret
from kyphos.errors import ConflictError, KyphosError, NotFoundError, SchemaError
from kyphos.registry import audit, migrate
from kyphos.registry.db import engine_for, session_scope
from kyphos.registry.models import (
    ROLES,
    Base,
    Patient,
    PatientIdentity,
    Procedure,
    RegistryInfo,
    Site,
    User,
    Visit,
)

DEFAULT_SITE_CODE = "MAIN"
DEFAULT_SITE_NAME = "Main site"
MAX_NAME_CHARS = 200
"""Longest site name and user display name (their columns are String(200); PostgreSQL
refuses a longer value with an error, SQLite would store it)."""
LOCAL_ADMIN = "kyphos-cli"
"""The actor of CLI commands: the local administrator (DATA.md: the CLI acts as admin)."""

_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _stand_in_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(16))


def snapshot(row: Base, secret: bytes) -> dict[str, Any]:
    """A row's column values for the audit trail (identity fields masked)."""
    values = {
        column.key: _plain(getattr(row, column.key)) for column in inspect(row).mapper.column_attrs
    }
    masked = audit.mask_identity(values, secret)
    return masked or {}


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


@dataclass
class Registry:
    """An open registry: where it is, its secret, and who is acting."""

    settings: Settings
    engine: Engine
    secret: bytes
    actor: str = LOCAL_ADMIN
    _protocol: Protocol | None = field(default=None, repr=False)

    @classmethod
    def open(cls, settings: Settings | None = None, *, actor: str = LOCAL_ADMIN) -> Registry:
        """Open an initialised registry; refuse one that is missing or from a newer kyphos."""
        settings = settings or get_settings()
        if settings.is_sqlite and not (settings.home / "kyphos.db").exists():
            raise SchemaError(
                f"{settings.home}: no registry here; run `kyphos init` first "
                "(or set KYPHOS_HOME to the data folder)"
            )
        engine = engine_for(settings.url)
        check_schema(engine)
        return cls(settings=settings, engine=engine, secret=read_secret(settings), actor=actor)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that writes and audits; all or nothing.

        A stale update (someone saved the row first) becomes a ConflictError, and a
        constraint the database enforces becomes a KyphosError naming it.
        """
        try:
            with session_scope(self.engine) as session:
                audit.lock_chain(session)
                yield session
        except StaleDataError:
            raise ConflictError(
                "someone else saved this record first; nothing was overwritten — reload and "
                "apply your change again"
            ) from None
        except IntegrityError as error:
            # PostgreSQL adds a DETAIL line: keep the problem on one line (CLI contract).
            detail = " ".join(str(error.orig).split())
            raise KyphosError(f"the database refused the change: {detail}") from None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only look at the registry (on SQLite without taking the write lock)."""
        with session_scope(engine_for(self.settings.url, reader=True)) as session:
            yield session

    def record(self, session: Session, **event: Any) -> None:
        audit.record(session, actor=self.actor, **event)

    # --- registry facts -------------------------------------------------------------------

    def info(self, session: Session) -> RegistryInfo:
        info = session.get(RegistryInfo, 1)
        if info is None:
            raise SchemaError("the registry was not initialised; run `kyphos init`")
        return info

    def protocol(self) -> Protocol:
        if self._protocol is None:
            with self.read() as session:
                self._protocol = Protocol.from_dict(json.loads(self.info(session).protocol))
        return self._protocol

    def is_demo(self) -> bool:
        with self.read() as session:
            return self.info(session).demo

    def set_protocol(self, protocol: Protocol) -> list[str]:
        """Store a new protocol.

        Refused when a dated visit that a time point holds now would fall outside every
        time point of the new protocol (it would silently become unscheduled).
        """
        with self.write() as session:
            current = Protocol.from_dict(json.loads(self.info(session).protocol))
            problems = _visits_outside(session, current, protocol)
            if problems:
                raise KyphosError(*problems)
            info = self.info(session)
            before = json.loads(info.protocol)
            info.protocol = json.dumps(protocol.to_dict(), ensure_ascii=False)
            self.record(
                session,
                action="update",
                entity="protocol",
                entity_key="registry",
                before=before,
                after=protocol.to_dict(),
            )
        self._protocol = protocol
        return []

    # --- sites and users -----------------------------------------------------------------

    def site(self, session: Session, code: str) -> Site:
        site = session.execute(select(Site).where(Site.code == code)).scalar_one_or_none()
        if site is None:
            raise NotFoundError(f"site {code!r} does not exist")
        return site

    def add_site(self, code: str, name: str) -> Site:
        code = code.strip()
        if not code or len(code) > 32 or any(ch.isspace() for ch in code) or not code.isprintable():
            raise KyphosError(f"site code {code!r}: use 1–32 printable characters without spaces")
        if not name.strip():
            raise KyphosError("site name: required")
        if not name.strip().isprintable():
            raise KyphosError("site name: use printable characters only (no control characters)")
        if len(name.strip()) > MAX_NAME_CHARS:
            raise KyphosError(f"site name: use at most {MAX_NAME_CHARS} characters")
        with self.write() as session:
            if session.execute(select(Site.id).where(Site.code == code)).first():
                raise KyphosError(f"site {code!r} exists already")
            site = Site(code=code, name=name.strip())
            session.add(site)
            session.flush()
            self.record(
                session,
                action="create",
                entity="site",
                entity_key=code,
                after=snapshot(site, self.secret),
            )
        return site

    def list_sites(self) -> list[Site]:
        with self.read() as session:
            return list(session.execute(select(Site).order_by(Site.code)).scalars())

    def default_site(self, session: Session) -> Site:
        return self.site(session, DEFAULT_SITE_CODE)

    def add_user(
        self,
        username: str,
        *,
        role: str,
        password: str | None,
        sites: list[str] | None = None,
        display_name: str | None = None,
    ) -> User:
        username = username.strip()
        if (
            not username
            or len(username) > 64
            or any(ch.isspace() for ch in username)
            or not username.isprintable()
        ):
            raise KyphosError(
                f"user name {username!r}: use 1–64 printable characters without spaces"
            )
        if role not in ROLES:
            raise KyphosError(f"role {role!r}: must be one of {', '.join(ROLES)}")
        check_password_rules(password)
        if display_name is not None and len(display_name) > MAX_NAME_CHARS:
            raise KyphosError(f"display name: use at most {MAX_NAME_CHARS} characters")
        if display_name is not None and not display_name.isprintable():
            raise KyphosError("display name: use printable characters only (no control characters)")
        sites = list(dict.fromkeys(sites or []))  # a site named twice is one membership
        with self.write() as session:
            exists = session.execute(select(User.id).where(User.username == username)).first()
            if exists:
                raise KyphosError(f"user {username!r} exists already")
            user = User(
                username=username,
                display_name=display_name or username,
                password_hash=_hasher.hash(password) if password else None,
                role=role,
                active=True,
                created_at=dt.datetime.now(dt.UTC),
                sites=[self.site(session, code) for code in sites],
            )
            session.add(user)
            session.flush()
            after = snapshot(user, self.secret)
            after.pop("password_hash", None)
            after["sites"] = sorted(site.code for site in user.sites)
            self.record(session, action="create", entity="user", entity_key=username, after=after)
        return user

    def list_users(self) -> list[User]:
        with self.read() as session:
            return list(session.execute(select(User).order_by(User.username)).scalars())

    def disable_user(self, username: str) -> None:
        with self.write() as session:
            user = session.execute(
                select(User).where(User.username == username)
            ).scalar_one_or_none()
            if user is None:
                raise NotFoundError(f"user {username!r} does not exist")
            if not user.active:
                return
            user.active = False
            user.session_generation += 1  # a later re-enabling does not revive old sessions
            self.record(
                session,
                action="update",
                entity="user",
                entity_key=username,
                before={"active": True},
                after={"active": False},
            )

    def check_password(self, username: str, password: str) -> User | None:
        with self.read() as session:
            user = session.execute(
                select(User).where(User.username == username)
            ).scalar_one_or_none()
            usable = user is not None and user.active and bool(user.password_hash)
            # Verify against a stand-in hash for unknown users too, so the answer takes as
            # long whether the account exists or not.
            stored = user.password_hash if usable and user is not None else _stand_in_hash()
            try:
                _hasher.verify(stored or "", password)
            except (VerificationError, InvalidHashError):
                return None
            return user if usable else None

    # --- identity ---------------------------------------------------------------------------

    def erase_identity(self, study_code: str, reason: str | None = None) -> bool:
        """Remove a patient's identifying data; the audit chain stays intact."""
        with self.write() as session:
            patient = session.execute(
                select(Patient).where(Patient.study_code == study_code)
            ).scalar_one_or_none()
            if patient is None:
                raise NotFoundError(f"patient {study_code!r} does not exist")
            identity = session.get(PatientIdentity, patient.id)
            if identity is None:
                return False
            before = snapshot(identity, self.secret)
            session.delete(identity)
            self.record(
                session,
                action="erase_identity",
                entity="identity",
                entity_key=study_code,
                before=before,
                reason=reason or "identity erased on request",
            )
        return True

    def verify_audit(self) -> audit.ChainReport:
        with self.read() as session:
            return audit.verify(session)

    def counts(self) -> dict[str, int]:
        """Rows per table (for status lines and tests)."""
        with self.read() as session:
            return {
                name: session.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in Base.metadata.tables.items()
            }


MIN_PASSWORD_CHARS = 10


def check_password_rules(password: str | None) -> None:
    """Refuse a password too short to protect clinical data (None: no password login)."""
    if password is not None and len(password) < MIN_PASSWORD_CHARS:
        raise KyphosError(f"password: use at least {MIN_PASSWORD_CHARS} characters")


def check_schema(engine: Engine) -> None:
    """Refuse a database that kyphos has not initialised or that a newer kyphos wrote."""
    revision = migrate.current_revision(engine)
    if revision is None:
        raise SchemaError("the database has no kyphos schema; run `kyphos init` first")
    if revision not in migrate.known_revisions():
        raise SchemaError(
            f"the database schema ({revision}) comes from a newer kyphos; upgrade kyphos"
        )
    if revision != migrate.head_revision():
        raise SchemaError("the database schema is older than this kyphos; run `kyphos init`")


@dataclass(frozen=True)
class InitResult:
    """What ``init`` did; ``admin`` is the admin account it created (None: none created)."""

    created_secret: bool
    created_registry: bool
    admin: str | None


def init_registry(
    settings: Settings | None = None, *, admin: str | None = None, password: str | None = None
) -> InitResult:
    """Create or upgrade the schema, the default site, the protocol and the secret.

    Idempotent: run again, it changes nothing, and an ``admin`` account that exists
    already is left as it is (its password too).
    """
    settings = settings or get_settings()
    if admin:
        check_password_rules(password)  # before anything is created
    settings.home.mkdir(parents=True, exist_ok=True)
    created_secret = ensure_secret(settings)
    engine = engine_for(settings.url)
    revision = migrate.current_revision(engine)
    if revision is not None and revision not in migrate.known_revisions():
        raise SchemaError(
            f"the database schema ({revision}) comes from a newer kyphos; upgrade kyphos"
        )
    migrate.upgrade(engine)
    registry = Registry(settings=settings, engine=engine, secret=read_secret(settings))
    created = False
    with registry.write() as session:
        if session.get(RegistryInfo, 1) is None:
            created = True
            protocol = DEFAULT_PROTOCOL.to_dict()
            session.add(
                RegistryInfo(
                    id=1,
                    demo=False,
                    protocol=json.dumps(protocol, ensure_ascii=False),
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
            site = Site(code=DEFAULT_SITE_CODE, name=DEFAULT_SITE_NAME)
            session.add(site)
            session.flush()
            registry.record(session, action="init", entity="registry", after={"protocol": protocol})
            registry.record(
                session,
                action="create",
                entity="site",
                entity_key=site.code,
                after=snapshot(site, registry.secret),
            )
    created_admin: str | None = None
    if admin:
        with registry.read() as session:
            exists = session.execute(select(User.id).where(User.username == admin.strip())).first()
        if not exists:
            created_admin = registry.add_user(admin, role="admin", password=password).username
    return InitResult(created_secret=created_secret, created_registry=created, admin=created_admin)


def _visits_outside(session: Session, current: Protocol, protocol: Protocol) -> list[str]:
    """Dated visits that a time point holds now and none of ``protocol``'s would."""
    index_dates = dict(
        session.execute(
            select(Procedure.patient_id, func.min(Procedure.procedure_date)).group_by(
                Procedure.patient_id
            )
        ).all()
    )
    problems: list[str] = []
    rows = session.execute(
        select(Patient.study_code, Visit.patient_id, Visit.timepoint, Visit.visit_date)
        .join(Patient, Patient.id == Visit.patient_id)
        .where(Visit.visit_date.is_not(None))
        .order_by(Patient.study_code, Visit.timepoint)
    )
    for study_code, patient_id, timepoint, visit_date in rows:
        index_date = index_dates.get(patient_id)
        if index_date is None or visit_date is None:
            continue
        held_now = classify(visit_date, index_date, current) is not None
        if held_now and classify(visit_date, index_date, protocol) is None:
            problems.append(
                f"visit {study_code}/{timepoint} on {visit_date.isoformat()} falls outside every "
                "time point of the new protocol"
            )
        if len(problems) >= 50:
            problems.append("… (more visits left out)")
            break
    return problems
