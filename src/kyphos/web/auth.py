"""Sessions and bearer tokens, both signed with the registry's secret.

* The session cookie holds the user id (None before sign-in), the CSRF token, the time
  of the last request and the user's session generation at sign-in; it is signed
  (itsdangerous), HttpOnly, SameSite=Lax and Secure when the request came over https.
  A session idle for longer than ``KYPHOS_SESSION_IDLE_MINUTES`` is over.
* Sign-out (and disabling the user, and a password reset) moves the generation kept on
  the user row on, so a copy of the cookie taken before stops working at once, in every
  worker; the row is read on every request anyway, so this costs no extra query.
* A REST API token holds the user id, its expiry (``KYPHOS_TOKEN_MINUTES``) and the
  user's session generation: sign-out, a password reset and disabling the user end the
  user's tokens as they end the sessions.

The account behind either is looked up on every request, so a disabled user or a
changed role takes effect at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SESSION_COOKIE = "kyphos_session"
_SESSION_SALT = "kyphos-web-session"
_TOKEN_SALT = "kyphos-api-token"


@dataclass(frozen=True)
class SessionData:
    user_id: int | None
    csrf: str
    seen: float
    generation: int = 0
    """The user's session generation when this session signed in (``User.session_generation``)."""
    expired: bool = False
    """True when the cookie carried a signed-in session that timed out."""

    @classmethod
    def fresh(cls, now: float, *, expired: bool = False) -> SessionData:
        return cls(user_id=None, csrf=secrets.token_urlsafe(32), seen=now, expired=expired)


class SessionCodec:
    def __init__(self, secret: bytes, idle_seconds: int) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_SESSION_SALT)
        self.idle_seconds = idle_seconds

    def dumps(self, data: SessionData) -> str:
        payload = {"u": data.user_id, "c": data.csrf, "s": data.seen, "g": data.generation}
        return str(self._serializer.dumps(payload))

    def loads(self, cookie: str | None, now: float) -> SessionData:
        """The session in ``cookie``; a fresh anonymous one when missing, forged or idle."""
        if not cookie:
            return SessionData.fresh(now)
        try:
            payload = self._serializer.loads(cookie)
        except BadSignature:
            return SessionData.fresh(now)
        if not isinstance(payload, dict):
            return SessionData.fresh(now)
        user_id, csrf, seen = payload.get("u"), payload.get("c"), payload.get("s")
        generation = payload.get("g")
        valid = (
            (user_id is None or isinstance(user_id, int))
            and isinstance(csrf, str)
            and isinstance(seen, int | float)
            and isinstance(generation, int)
        )
        if not valid or not isinstance(seen, int | float) or not isinstance(generation, int):
            return SessionData.fresh(now)
        if now - float(seen) > self.idle_seconds:
            return SessionData.fresh(now, expired=user_id is not None)
        return SessionData(user_id=user_id, csrf=str(csrf), seen=float(seen), generation=generation)


class TokenCodec:
    def __init__(self, secret: bytes, lifetime_seconds: int) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_TOKEN_SALT)
        self.lifetime_seconds = lifetime_seconds

    def issue(self, user_id: int, now: float, generation: int) -> str:
        """A token for ``user_id`` carrying the user's session generation: sign-out, a
        password reset and disabling the user end it like a session cookie."""
        payload = {"u": user_id, "e": now + self.lifetime_seconds, "g": generation}
        return str(self._serializer.dumps(payload))

    def holder(self, token: str, now: float) -> tuple[int, int] | None:
        """``(user_id, generation)`` of a valid, unexpired token; None otherwise."""
        try:
            payload = self._serializer.loads(token)
        except BadSignature:
            return None
        if not isinstance(payload, dict):
            return None
        user_id, expires, generation = payload.get("u"), payload.get("e"), payload.get("g")
        if (
            not isinstance(user_id, int)
            or not isinstance(expires, int | float)
            or not isinstance(generation, int)
        ):
            return None
        return (user_id, generation) if now < expires else None
