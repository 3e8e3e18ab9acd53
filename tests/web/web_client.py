"""The test client of the web app and its helpers (sign in, CSRF tokens, bearer tokens)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from kyphos.registry.repository import Registry

PASSWORD = "a-long-test-password"
ROLE_USERS = ("investigator", "observer", "analyst")
START = 1_700_000_000.0


@dataclass
class Clock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Web:
    registry: Registry
    client: TestClient
    clock: Clock
    passwords: dict[str, str]
    tokens: dict[str, str] = field(default_factory=dict)

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
