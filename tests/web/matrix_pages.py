"""Matrix rows of the worklist, measurement, report, import, audit and admin pages.

Written out by hand from issue 6 and the brief: reports for admins, investigators and
analysts (observers 403); import for admins and investigators (own sites; a confirm or
cancel without a pending upload of one's own is 404); audit for admins and
investigators (own sites only); administration admins only; the measurement work list
for everyone but analysts. A POST without the needed fields is refused with 422 after
the CSRF and role checks.
"""

from __future__ import annotations

from typing import Any

from web_client import Web

ROLES = ("admin", "investigator", "observer", "analyst")
TARGET_USER = "matrix-target"


def _rows(method: str, path: str, outcomes: dict[str, tuple[int, str]]) -> list[Any]:
    return [
        (method, path, role, "-", status, detail) for role, (status, detail) in outcomes.items()
    ]


# fmt: off
ROWS: list[tuple[str, str, str, str, int, str]] = [
    ("GET",  "/measurements",                      "anonymous",    "-", 303, "/signin"),
    ("GET",  "/measurements",                      "admin",        "-", 200, ""),
    ("GET",  "/measurements",                      "investigator", "-", 200, ""),
    ("GET",  "/measurements",                      "observer",     "-", 200, ""),
    ("GET",  "/measurements",                      "analyst",      "-", 403, ""),
    ("GET",  "/report",                            "anonymous",    "-", 303, "/signin"),
    ("GET",  "/report",                            "admin",        "-", 200, ""),
    ("GET",  "/report",                            "investigator", "-", 200, ""),
    ("GET",  "/report",                            "observer",     "-", 403, ""),
    ("GET",  "/report",                            "analyst",      "-", 200, ""),
    ("GET",  "/report/document",                   "anonymous",    "-", 303, "/signin"),
    ("GET",  "/report/document",                   "admin",        "-", 200, ""),
    ("GET",  "/report/document",                   "investigator", "-", 200, ""),
    ("GET",  "/report/document",                   "observer",     "-", 403, ""),
    ("GET",  "/report/document",                   "analyst",      "-", 200, ""),
    ("GET",  "/report/download/{kind}",            "anonymous",    "-", 303, "/signin"),
    ("GET",  "/report/download/{kind}",            "admin",        "-", 200, ""),
    ("GET",  "/report/download/{kind}",            "investigator", "-", 200, ""),
    ("GET",  "/report/download/{kind}",            "observer",     "-", 403, ""),
    ("GET",  "/report/download/{kind}",            "analyst",      "-", 200, ""),
    ("GET",  "/import",                            "anonymous",    "-", 303, "/signin"),
    ("GET",  "/import",                            "admin",        "-", 200, ""),
    ("GET",  "/import",                            "investigator", "-", 200, ""),
    ("GET",  "/import",                            "observer",     "-", 403, ""),
    ("GET",  "/import",                            "analyst",      "-", 403, ""),
    ("POST", "/import",                            "anonymous",    "-", 303, "/signin"),
    ("POST", "/import",                            "admin",        "-", 422, ""),
    ("POST", "/import",                            "investigator", "-", 422, ""),
    ("POST", "/import",                            "observer",     "-", 403, ""),
    ("POST", "/import",                            "analyst",      "-", 403, ""),
    ("POST", "/import/confirm",                    "anonymous",    "-", 303, "/signin"),
    ("POST", "/import/confirm",                    "admin",        "-", 404, ""),
    ("POST", "/import/confirm",                    "investigator", "-", 404, ""),
    ("POST", "/import/confirm",                    "observer",     "-", 403, ""),
    ("POST", "/import/confirm",                    "analyst",      "-", 403, ""),
    ("POST", "/import/cancel",                     "anonymous",    "-", 303, "/signin"),
    ("POST", "/import/cancel",                     "admin",        "-", 404, ""),
    ("POST", "/import/cancel",                     "investigator", "-", 404, ""),
    ("POST", "/import/cancel",                     "observer",     "-", 403, ""),
    ("POST", "/import/cancel",                     "analyst",      "-", 403, ""),
    ("GET",  "/audit",                             "anonymous",    "-", 303, "/signin"),
    ("GET",  "/audit",                             "admin",        "-", 200, "own other"),
    ("GET",  "/audit",                             "investigator", "-", 200, "own"),
    ("GET",  "/audit",                             "observer",     "-", 403, ""),
    ("GET",  "/audit",                             "analyst",      "-", 403, ""),
    ("GET",  "/admin/users",                       "anonymous",    "-", 303, "/signin"),
    ("GET",  "/admin/users",                       "admin",        "-", 200, ""),
    ("GET",  "/admin/users",                       "investigator", "-", 403, ""),
    ("GET",  "/admin/users",                       "observer",     "-", 403, ""),
    ("GET",  "/admin/users",                       "analyst",      "-", 403, ""),
    ("POST", "/admin/users",                       "anonymous",    "-", 303, "/signin"),
    ("POST", "/admin/users",                       "admin",        "-", 422, ""),
    ("POST", "/admin/users",                       "investigator", "-", 403, ""),
    ("POST", "/admin/users",                       "observer",     "-", 403, ""),
    ("POST", "/admin/users",                       "analyst",      "-", 403, ""),
    ("POST", "/admin/users/{username}/disable",    "anonymous",    "-", 303, "/signin"),
    ("POST", "/admin/users/{username}/disable",    "admin",        "-", 200, ""),
    ("POST", "/admin/users/{username}/disable",    "investigator", "-", 403, ""),
    ("POST", "/admin/users/{username}/disable",    "observer",     "-", 403, ""),
    ("POST", "/admin/users/{username}/disable",    "analyst",      "-", 403, ""),
    ("POST", "/admin/users/{username}/password",   "anonymous",    "-", 303, "/signin"),
    ("POST", "/admin/users/{username}/password",   "admin",        "-", 200, ""),
    ("POST", "/admin/users/{username}/password",   "investigator", "-", 403, ""),
    ("POST", "/admin/users/{username}/password",   "observer",     "-", 403, ""),
    ("POST", "/admin/users/{username}/password",   "analyst",      "-", 403, ""),
    ("POST", "/admin/users/{username}/access",     "anonymous",    "-", 303, "/signin"),
    ("POST", "/admin/users/{username}/access",     "admin",        "-", 200, ""),
    ("POST", "/admin/users/{username}/access",     "investigator", "-", 403, ""),
    ("POST", "/admin/users/{username}/access",     "observer",     "-", 403, ""),
    ("POST", "/admin/users/{username}/access",     "analyst",      "-", 403, ""),
    ("GET",  "/admin/sites",                       "anonymous",    "-", 303, "/signin"),
    ("GET",  "/admin/sites",                       "admin",        "-", 200, ""),
    ("GET",  "/admin/sites",                       "investigator", "-", 403, ""),
    ("GET",  "/admin/sites",                       "observer",     "-", 403, ""),
    ("GET",  "/admin/sites",                       "analyst",      "-", 403, ""),
    ("POST", "/admin/sites",                       "anonymous",    "-", 303, "/signin"),
    ("POST", "/admin/sites",                       "admin",        "-", 422, ""),
    ("POST", "/admin/sites",                       "investigator", "-", 403, ""),
    ("POST", "/admin/sites",                       "observer",     "-", 403, ""),
    ("POST", "/admin/sites",                       "analyst",      "-", 403, ""),
]
# fmt: on

_USER_FORMS = {
    "disable": {},
    "password": {"password": "a-new-long-password"},
    "access": {"role": "observer", "sites": "MAIN"},
}


def call(web: Web, method: str, path: str, role: str, target: str) -> Any:
    """Requests for the rows above that need more than the default request."""
    if path == "/audit":
        with web.registry.write() as session:
            for code in ("OWN-1", "OTHER-1"):
                web.registry.record(session, action="matrix", entity="patient", entity_key=code)
    elif path == "/report/download/{kind}":
        path = "/report/download/json"
    elif path.startswith("/admin/users/{username}/"):
        if not any(user.username == TARGET_USER for user in web.registry.list_users()):
            web.registry.add_user(TARGET_USER, role="analyst", password=None, sites=["MAIN"])
        action = path.rsplit("/", 1)[1]
        path = path.replace("{username}", TARGET_USER)
        signed_in = web.session(role)
        token = web.form_token(signed_in)
        return signed_in.client.post(path, data={"csrf_token": token, **_USER_FORMS[action]})
    else:
        return None
    return web.session(role).client.request(method, path)
