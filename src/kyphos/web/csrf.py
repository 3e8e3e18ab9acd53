"""CSRF protection: every state-changing form carries the session's token.

The token lives in the signed session cookie; a form posts it back in the
``csrf_token`` field. A post without a matching token is refused (403), before
anything is read or written.
"""

from __future__ import annotations

import hmac

FIELD = "csrf_token"


class CsrfRefused(Exception):
    """The form's token is missing or does not match the session's."""


def check(expected: str, posted: str | None) -> None:
    if not posted or not hmac.compare_digest(expected.encode(), posted.encode()):
        raise CsrfRefused()
