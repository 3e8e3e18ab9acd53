"""The test client of the web app and its helpers (sign in, CSRF tokens, bearer tokens)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from kyphos.registry.models import User
from kyphos.registry.repository import Registry

PASSWORD = "a-long-test-password"
ROLE_USERS = ("investigator", "observer", "analyst")
START = 1_700_000_000.0
QUICK_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""argon2id at a small cost, for tests that sign in many times. kyphos verifies a hash
with the parameters stored in it, so a sign-in runs the same code; the hashing of the
app (``kyphos.registry.repository``) keeps its production parameters."""


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class SignedIn:
    """A client with a session, and that session's CSRF token once read (the token is the
    session's: it changes only at sign-in and sign-out)."""

    client: TestClient
    token: str | None = None


@dataclass
class Web:
    registry: Registry
    client: TestClient
    clock: Clock
    passwords: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)
    sessions: dict[str, SignedIn] = field(default_factory=dict)
    shared: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    """Records (as the use cases return them) that a test made once and shares across its
    requests, under keys of its own."""

    def client_for(self, base_url: str = "http://testserver") -> TestClient:
        return TestClient(self.client.app, base_url=base_url, follow_redirects=False)

    def csrf(self, client: TestClient | None = None) -> str:
        page = (client or self.client).get("/signin")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)

    def sign_in(self, username: str, client: TestClient | None = None) -> TestClient:
        client = client or self.client_for()
        token = self.csrf(client)
        answer = client.post(
            "/signin",
            data={"username": username, "password": self.passwords[username], "csrf_token": token},
        )
        assert answer.status_code == 303, answer.text
        return client

    def session(self, role: str) -> SignedIn:
        """A client signed in as ``role``, one per role and reused (each sign-in costs an
        argon2 check and two requests); a fresh client with no session for ``anonymous``.

        Call :meth:`forget` after anything that ends or replaces the role's session."""
        if role == "anonymous":
            return SignedIn(self.client_for())
        if role not in self.sessions:
            self.sessions[role] = SignedIn(self.sign_in(role))
        return self.sessions[role]

    def forget(self, role: str) -> None:
        """Drop the reused client of ``role`` (its session ended); the next one signs in."""
        self.sessions.pop(role, None)

    def form_token(self, signed_in: SignedIn) -> str:
        """The CSRF token of ``signed_in``'s session, read from the sign-in page once."""
        if signed_in.token is None:
            signed_in.token = self.csrf(signed_in.client)
        return signed_in.token

    def page_csrf(self, client: TestClient) -> str:
        page = client.get("/")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)

    def bearer(self, username: str, *, fresh: bool = False) -> dict[str, str]:
        """The Authorization header of a token for ``username`` (one per user, reused:
        each token costs an argon2 check; ``fresh`` for one that may be revoked)."""
        if fresh or username not in self.tokens:
            answer = self.client.post(
                "/api/v1/auth/token",
                json={"username": username, "password": self.passwords[username]},
            )
            assert answer.status_code == 200, answer.text
            if fresh:
                return {"Authorization": f"Bearer {answer.json()['access_token']}"}
            self.tokens[username] = answer.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[username]}"}


def use_quick_hashes(web: Web) -> None:
    """Store the passwords of ``web``'s users as :data:`QUICK_HASHER` hashes (the same
    passwords: only the cost of checking one changes)."""
    with web.registry.write() as session:
        for user in session.query(User).filter(User.username.in_(web.passwords)):
            user.password_hash = QUICK_HASHER.hash(web.passwords[user.username])
