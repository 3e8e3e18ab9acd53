"""Demo accounts: one per role, only in a demo registry."""

from __future__ import annotations

import pytest

from kyphos.demo import DEMO_PASSWORD, ensure_demo_accounts, load_demo
from kyphos.errors import KyphosError
from kyphos.registry.repository import Registry


def test_demo_accounts_are_refused_outside_a_demo_registry(registry: Registry) -> None:
    with pytest.raises(KyphosError, match="only in a demo registry"):
        ensure_demo_accounts(registry)


def test_demo_accounts_one_per_role_with_the_documented_password(registry: Registry) -> None:
    load_demo(registry, patients=2)
    # "admin" exists already (the fixture's, another password): left as it is.
    assert ensure_demo_accounts(registry) == ["investigator", "observer", "analyst"]
    assert ensure_demo_accounts(registry) == []
    roles = {user.username: user.role for user in registry.list_users()}
    assert roles == {
        "admin": "admin",
        "investigator": "investigator",
        "observer": "observer",
        "analyst": "analyst",
    }
    assert DEMO_PASSWORD == "kyphos-demo-password"
    assert registry.check_password("observer", "kyphos-demo-password") is not None
    assert registry.check_password("admin", "kyphos-demo-password") is None
