"""Matrix rows of the REST API's records, report, export, import and token revocation.

Expected outcomes written out by hand from issue 6: anonymous → 401; admins may do
everything at every site; investigators read and write their own site's patients; observers
and analysts read their own site's patients and get 403 for a write; another site's patient
is a 404 for everyone but admins. Creating a patient: the target is the new patient's site
(an investigator naming a site not theirs gets 422 on ``site``). Report and export:
admins, investigators, analysts (observers 403). Import: admins and investigators.

:func:`call` makes each request with a fresh record (created as the admin before; the
records of its kind removed after), so rows do not depend on each other.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import zipfile
from typing import Any

from web_client import Web

from kyphos.registry import editing
from kyphos.registry.access import Principal

# fmt: off
ROWS: list[tuple[str, str, str, str, int, str]] = [
    ("POST",  "/api/v1/patients",                               "anonymous",    "own",   401, ""),
    ("POST",  "/api/v1/patients",                               "anonymous",    "other", 401, ""),
    ("POST",  "/api/v1/patients",                               "admin",        "own",   201, ""),
    ("POST",  "/api/v1/patients",                               "admin",        "other", 201, ""),
    ("POST",  "/api/v1/patients",                               "investigator", "own",   201, ""),
    ("POST",  "/api/v1/patients",                               "investigator", "other", 422, ""),
    ("POST",  "/api/v1/patients",                               "observer",     "own",   403, ""),
    ("POST",  "/api/v1/patients",                               "observer",     "other", 403, ""),
    ("POST",  "/api/v1/patients",                               "analyst",      "own",   403, ""),
    ("POST",  "/api/v1/patients",                               "analyst",      "other", 403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}",                  "anonymous",    "own",   401, ""),
    ("PATCH", "/api/v1/patients/{patient_id}",                  "anonymous",    "other", 401, ""),
    ("PATCH", "/api/v1/patients/{patient_id}",                  "admin",        "own",   200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}",                  "admin",        "other", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}",                  "investigator", "own",   200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}",                  "investigator", "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}",                  "observer",     "own",   403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}",                  "observer",     "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}",                  "analyst",      "own",   403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}",                  "analyst",      "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}",                  "anonymous",    "own",   401, ""),
    ("DELETE","/api/v1/patients/{patient_id}",                  "anonymous",    "other", 401, ""),
    ("DELETE","/api/v1/patients/{patient_id}",                  "admin",        "own",   204, ""),
    ("DELETE","/api/v1/patients/{patient_id}",                  "admin",        "other", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}",                  "investigator", "own",   204, ""),
    ("DELETE","/api/v1/patients/{patient_id}",                  "investigator", "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}",                  "observer",     "own",   403, ""),
    ("DELETE","/api/v1/patients/{patient_id}",                  "observer",     "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}",                  "analyst",      "own",   403, ""),
    ("DELETE","/api/v1/patients/{patient_id}",                  "analyst",      "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/vertebrae",        "anonymous",    "own",   401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/vertebrae",        "anonymous",    "other", 401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/vertebrae",        "admin",        "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/vertebrae",        "admin",        "other", 200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/vertebrae",        "investigator", "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/vertebrae",        "investigator", "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/vertebrae",        "observer",     "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/vertebrae",        "observer",     "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/vertebrae",        "analyst",      "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/vertebrae",        "analyst",      "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/vertebrae",        "anonymous",    "own",   401, ""),
    ("POST",  "/api/v1/patients/{patient_id}/vertebrae",        "anonymous",    "other", 401, ""),
    ("POST",  "/api/v1/patients/{patient_id}/vertebrae",        "admin",        "own",   201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/vertebrae",        "admin",        "other", 201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/vertebrae",        "investigator", "own",   201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/vertebrae",        "investigator", "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/vertebrae",        "observer",     "own",   403, ""),
    ("POST",  "/api/v1/patients/{patient_id}/vertebrae",        "observer",     "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/vertebrae",        "analyst",      "own",   403, ""),
    ("POST",  "/api/v1/patients/{patient_id}/vertebrae",        "analyst",      "other", 404, ""),
    ("GET", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "anonymous", "own", 401, ""),
    ("GET", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "anonymous", "other", 401, ""),
    ("GET", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "admin", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "admin", "other", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "investigator", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "investigator", "other", 404, ""),
    ("GET", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "observer", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "observer", "other", 404, ""),
    ("GET", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "analyst", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "analyst", "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "anonymous", "own", 401, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "anonymous", "other", 401, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "admin", "own", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "admin", "other", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "investigator", "own", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "investigator", "other", 404, ""),  # noqa: E501
    ("PATCH", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "observer", "own", 403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "observer", "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "analyst", "own", 403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/vertebrae/{item_id}", "analyst", "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}/vertebrae/{item_id}", "anonymous", "own", 401, ""),
    ("DELETE","/api/v1/patients/{patient_id}/vertebrae/{item_id}", "anonymous", "other", 401, ""),
    ("DELETE","/api/v1/patients/{patient_id}/vertebrae/{item_id}", "admin", "own", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/vertebrae/{item_id}", "admin", "other", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/vertebrae/{item_id}", "investigator", "own", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/vertebrae/{item_id}", "investigator", "other", 404, ""),  # noqa: E501
    ("DELETE","/api/v1/patients/{patient_id}/vertebrae/{item_id}", "observer", "own", 403, ""),
    ("DELETE","/api/v1/patients/{patient_id}/vertebrae/{item_id}", "observer", "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}/vertebrae/{item_id}", "analyst", "own", 403, ""),
    ("DELETE","/api/v1/patients/{patient_id}/vertebrae/{item_id}", "analyst", "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/procedures",       "anonymous",    "own",   401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/procedures",       "anonymous",    "other", 401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/procedures",       "admin",        "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/procedures",       "admin",        "other", 200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/procedures",       "investigator", "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/procedures",       "investigator", "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/procedures",       "observer",     "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/procedures",       "observer",     "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/procedures",       "analyst",      "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/procedures",       "analyst",      "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/procedures",       "anonymous",    "own",   401, ""),
    ("POST",  "/api/v1/patients/{patient_id}/procedures",       "anonymous",    "other", 401, ""),
    ("POST",  "/api/v1/patients/{patient_id}/procedures",       "admin",        "own",   201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/procedures",       "admin",        "other", 201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/procedures",       "investigator", "own",   201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/procedures",       "investigator", "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/procedures",       "observer",     "own",   403, ""),
    ("POST",  "/api/v1/patients/{patient_id}/procedures",       "observer",     "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/procedures",       "analyst",      "own",   403, ""),
    ("POST",  "/api/v1/patients/{patient_id}/procedures",       "analyst",      "other", 404, ""),
    ("GET", "/api/v1/patients/{patient_id}/procedures/{item_id}", "anonymous", "own", 401, ""),
    ("GET", "/api/v1/patients/{patient_id}/procedures/{item_id}", "anonymous", "other", 401, ""),
    ("GET", "/api/v1/patients/{patient_id}/procedures/{item_id}", "admin", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/procedures/{item_id}", "admin", "other", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/procedures/{item_id}", "investigator", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/procedures/{item_id}", "investigator", "other", 404, ""),
    ("GET", "/api/v1/patients/{patient_id}/procedures/{item_id}", "observer", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/procedures/{item_id}", "observer", "other", 404, ""),
    ("GET", "/api/v1/patients/{patient_id}/procedures/{item_id}", "analyst", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/procedures/{item_id}", "analyst", "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/procedures/{item_id}", "anonymous", "own", 401, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/procedures/{item_id}", "anonymous", "other", 401, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/procedures/{item_id}", "admin", "own", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/procedures/{item_id}", "admin", "other", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/procedures/{item_id}", "investigator", "own", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/procedures/{item_id}", "investigator", "other", 404, ""),  # noqa: E501
    ("PATCH", "/api/v1/patients/{patient_id}/procedures/{item_id}", "observer", "own", 403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/procedures/{item_id}", "observer", "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/procedures/{item_id}", "analyst", "own", 403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/procedures/{item_id}", "analyst", "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}/procedures/{item_id}", "anonymous", "own", 401, ""),
    ("DELETE","/api/v1/patients/{patient_id}/procedures/{item_id}", "anonymous", "other", 401, ""),
    ("DELETE","/api/v1/patients/{patient_id}/procedures/{item_id}", "admin", "own", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/procedures/{item_id}", "admin", "other", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/procedures/{item_id}", "investigator", "own", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/procedures/{item_id}", "investigator", "other", 404, ""),  # noqa: E501
    ("DELETE","/api/v1/patients/{patient_id}/procedures/{item_id}", "observer", "own", 403, ""),
    ("DELETE","/api/v1/patients/{patient_id}/procedures/{item_id}", "observer", "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}/procedures/{item_id}", "analyst", "own", 403, ""),
    ("DELETE","/api/v1/patients/{patient_id}/procedures/{item_id}", "analyst", "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits",           "anonymous",    "own",   401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits",           "anonymous",    "other", 401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits",           "admin",        "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits",           "admin",        "other", 200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits",           "investigator", "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits",           "investigator", "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits",           "observer",     "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits",           "observer",     "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits",           "analyst",      "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits",           "analyst",      "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/visits",           "anonymous",    "own",   401, ""),
    ("POST",  "/api/v1/patients/{patient_id}/visits",           "anonymous",    "other", 401, ""),
    ("POST",  "/api/v1/patients/{patient_id}/visits",           "admin",        "own",   201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/visits",           "admin",        "other", 201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/visits",           "investigator", "own",   201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/visits",           "investigator", "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/visits",           "observer",     "own",   403, ""),
    ("POST",  "/api/v1/patients/{patient_id}/visits",           "observer",     "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/visits",           "analyst",      "own",   403, ""),
    ("POST",  "/api/v1/patients/{patient_id}/visits",           "analyst",      "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits/{item_id}", "anonymous",    "own",   401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits/{item_id}", "anonymous",    "other", 401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits/{item_id}", "admin",        "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits/{item_id}", "admin",        "other", 200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits/{item_id}", "investigator", "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits/{item_id}", "investigator", "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits/{item_id}", "observer",     "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits/{item_id}", "observer",     "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits/{item_id}", "analyst",      "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/visits/{item_id}", "analyst",      "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/visits/{item_id}", "anonymous",    "own",   401, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/visits/{item_id}", "anonymous",    "other", 401, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/visits/{item_id}", "admin",        "own",   200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/visits/{item_id}", "admin",        "other", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/visits/{item_id}", "investigator", "own",   200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/visits/{item_id}", "investigator", "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/visits/{item_id}", "observer",     "own",   403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/visits/{item_id}", "observer",     "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/visits/{item_id}", "analyst",      "own",   403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/visits/{item_id}", "analyst",      "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}/visits/{item_id}", "anonymous",    "own",   401, ""),
    ("DELETE","/api/v1/patients/{patient_id}/visits/{item_id}", "anonymous",    "other", 401, ""),
    ("DELETE","/api/v1/patients/{patient_id}/visits/{item_id}", "admin",        "own",   204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/visits/{item_id}", "admin",        "other", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/visits/{item_id}", "investigator", "own",   204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/visits/{item_id}", "investigator", "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}/visits/{item_id}", "observer",     "own",   403, ""),
    ("DELETE","/api/v1/patients/{patient_id}/visits/{item_id}", "observer",     "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}/visits/{item_id}", "analyst",      "own",   403, ""),
    ("DELETE","/api/v1/patients/{patient_id}/visits/{item_id}", "analyst",      "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/measurements",     "anonymous",    "own",   401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/measurements",     "anonymous",    "other", 401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/measurements",     "admin",        "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/measurements",     "admin",        "other", 200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/measurements",     "investigator", "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/measurements",     "investigator", "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/measurements",     "observer",     "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/measurements",     "observer",     "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/measurements",     "analyst",      "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/measurements",     "analyst",      "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/measurements",     "anonymous",    "own",   401, ""),
    ("POST",  "/api/v1/patients/{patient_id}/measurements",     "anonymous",    "other", 401, ""),
    ("POST",  "/api/v1/patients/{patient_id}/measurements",     "admin",        "own",   201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/measurements",     "admin",        "other", 201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/measurements",     "investigator", "own",   201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/measurements",     "investigator", "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/measurements",     "observer",     "own",   403, ""),
    ("POST",  "/api/v1/patients/{patient_id}/measurements",     "observer",     "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/measurements",     "analyst",      "own",   403, ""),
    ("POST",  "/api/v1/patients/{patient_id}/measurements",     "analyst",      "other", 404, ""),
    ("GET", "/api/v1/patients/{patient_id}/measurements/{item_id}", "anonymous", "own", 401, ""),
    ("GET", "/api/v1/patients/{patient_id}/measurements/{item_id}", "anonymous", "other", 401, ""),
    ("GET", "/api/v1/patients/{patient_id}/measurements/{item_id}", "admin", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/measurements/{item_id}", "admin", "other", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/measurements/{item_id}", "investigator", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/measurements/{item_id}", "investigator", "other", 404, ""),  # noqa: E501
    ("GET", "/api/v1/patients/{patient_id}/measurements/{item_id}", "observer", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/measurements/{item_id}", "observer", "other", 404, ""),
    ("GET", "/api/v1/patients/{patient_id}/measurements/{item_id}", "analyst", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/measurements/{item_id}", "analyst", "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/measurements/{item_id}", "anonymous", "own", 401, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/measurements/{item_id}", "anonymous", "other", 401, ""),  # noqa: E501
    ("PATCH", "/api/v1/patients/{patient_id}/measurements/{item_id}", "admin", "own", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/measurements/{item_id}", "admin", "other", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/measurements/{item_id}", "investigator", "own", 200, ""),  # noqa: E501
    ("PATCH", "/api/v1/patients/{patient_id}/measurements/{item_id}", "investigator", "other", 404, ""),  # noqa: E501
    ("PATCH", "/api/v1/patients/{patient_id}/measurements/{item_id}", "observer", "own", 403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/measurements/{item_id}", "observer", "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/measurements/{item_id}", "analyst", "own", 403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/measurements/{item_id}", "analyst", "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}/measurements/{item_id}", "anonymous", "own", 401, ""),
    ("DELETE","/api/v1/patients/{patient_id}/measurements/{item_id}", "anonymous", "other", 401, ""),  # noqa: E501
    ("DELETE","/api/v1/patients/{patient_id}/measurements/{item_id}", "admin", "own", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/measurements/{item_id}", "admin", "other", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/measurements/{item_id}", "investigator", "own", 204, ""),  # noqa: E501
    ("DELETE","/api/v1/patients/{patient_id}/measurements/{item_id}", "investigator", "other", 404, ""),  # noqa: E501
    ("DELETE","/api/v1/patients/{patient_id}/measurements/{item_id}", "observer", "own", 403, ""),
    ("DELETE","/api/v1/patients/{patient_id}/measurements/{item_id}", "observer", "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}/measurements/{item_id}", "analyst", "own", 403, ""),
    ("DELETE","/api/v1/patients/{patient_id}/measurements/{item_id}", "analyst", "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/adverse-events",   "anonymous",    "own",   401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/adverse-events",   "anonymous",    "other", 401, ""),
    ("GET",   "/api/v1/patients/{patient_id}/adverse-events",   "admin",        "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/adverse-events",   "admin",        "other", 200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/adverse-events",   "investigator", "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/adverse-events",   "investigator", "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/adverse-events",   "observer",     "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/adverse-events",   "observer",     "other", 404, ""),
    ("GET",   "/api/v1/patients/{patient_id}/adverse-events",   "analyst",      "own",   200, ""),
    ("GET",   "/api/v1/patients/{patient_id}/adverse-events",   "analyst",      "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/adverse-events",   "anonymous",    "own",   401, ""),
    ("POST",  "/api/v1/patients/{patient_id}/adverse-events",   "anonymous",    "other", 401, ""),
    ("POST",  "/api/v1/patients/{patient_id}/adverse-events",   "admin",        "own",   201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/adverse-events",   "admin",        "other", 201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/adverse-events",   "investigator", "own",   201, ""),
    ("POST",  "/api/v1/patients/{patient_id}/adverse-events",   "investigator", "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/adverse-events",   "observer",     "own",   403, ""),
    ("POST",  "/api/v1/patients/{patient_id}/adverse-events",   "observer",     "other", 404, ""),
    ("POST",  "/api/v1/patients/{patient_id}/adverse-events",   "analyst",      "own",   403, ""),
    ("POST",  "/api/v1/patients/{patient_id}/adverse-events",   "analyst",      "other", 404, ""),
    ("GET", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","anonymous", "own", 401, ""),
    ("GET", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","anonymous", "other", 401, ""),
    ("GET", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","admin", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","admin", "other", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","investigator", "own", 200, ""),  # noqa: E501
    ("GET", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","investigator", "other", 404, ""),  # noqa: E501
    ("GET", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","observer", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","observer", "other", 404, ""),
    ("GET", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","analyst", "own", 200, ""),
    ("GET", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","analyst", "other", 404, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","anonymous", "own", 401, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","anonymous", "other", 401, ""),  # noqa: E501
    ("PATCH", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","admin", "own", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","admin", "other", 200, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","investigator", "own", 200, ""),  # noqa: E501
    ("PATCH", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","investigator", "other", 404, ""),  # noqa: E501
    ("PATCH", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","observer", "own", 403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","observer", "other", 404, ""),  # noqa: E501
    ("PATCH", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","analyst", "own", 403, ""),
    ("PATCH", "/api/v1/patients/{patient_id}/adverse-events/{item_id}","analyst", "other", 404, ""),
    ("DELETE","/api/v1/patients/{patient_id}/adverse-events/{item_id}","anonymous", "own", 401, ""),
    ("DELETE","/api/v1/patients/{patient_id}/adverse-events/{item_id}","anonymous", "other", 401, ""),  # noqa: E501
    ("DELETE","/api/v1/patients/{patient_id}/adverse-events/{item_id}","admin", "own", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/adverse-events/{item_id}","admin", "other", 204, ""),
    ("DELETE","/api/v1/patients/{patient_id}/adverse-events/{item_id}","investigator", "own", 204, ""),  # noqa: E501
    ("DELETE","/api/v1/patients/{patient_id}/adverse-events/{item_id}","investigator", "other", 404, ""),  # noqa: E501
    ("DELETE","/api/v1/patients/{patient_id}/adverse-events/{item_id}","observer", "own", 403, ""),
    ("DELETE","/api/v1/patients/{patient_id}/adverse-events/{item_id}","observer", "other", 404, ""),  # noqa: E501
    ("DELETE","/api/v1/patients/{patient_id}/adverse-events/{item_id}","analyst", "own", 403, ""),
    ("DELETE","/api/v1/patients/{patient_id}/adverse-events/{item_id}","analyst", "other", 404, ""),
    ("GET",   "/api/v1/report",                                 "anonymous",    "-",     401, ""),
    ("GET",   "/api/v1/report",                                 "admin",        "-",     200, ""),
    ("GET",   "/api/v1/report",                                 "investigator", "-",     200, ""),
    ("GET",   "/api/v1/report",                                 "observer",     "-",     403, ""),
    ("GET",   "/api/v1/report",                                 "analyst",      "-",     200, ""),
    ("GET",   "/api/v1/export",                                 "anonymous",    "-",     401, ""),
    ("GET",   "/api/v1/export",                                 "admin",        "-",     200, ""),
    ("GET",   "/api/v1/export",                                 "investigator", "-",     200, ""),
    ("GET",   "/api/v1/export",                                 "observer",     "-",     403, ""),
    ("GET",   "/api/v1/export",                                 "analyst",      "-",     200, ""),
    ("POST",  "/api/v1/import",                                 "anonymous",    "-",     401, ""),
    ("POST",  "/api/v1/import",                                 "admin",        "-",     200, ""),
    ("POST",  "/api/v1/import",                                 "investigator", "-",     200, ""),
    ("POST",  "/api/v1/import",                                 "observer",     "-",     403, ""),
    ("POST",  "/api/v1/import",                                 "analyst",      "-",     403, ""),
    ("POST",  "/api/v1/auth/revoke",                            "anonymous",    "-",     401, ""),
    ("POST",  "/api/v1/auth/revoke",                            "admin",        "-",     204, ""),
    ("POST",  "/api/v1/auth/revoke",                            "investigator", "-",     204, ""),
    ("POST",  "/api/v1/auth/revoke",                            "observer",     "-",     204, ""),
    ("POST",  "/api/v1/auth/revoke",                            "analyst",      "-",     204, ""),
]
# fmt: on

_TARGETS = {"own": "OWN-1", "other": "OTHER-1"}
_counter = itertools.count(1)
_ADMIN = Principal(user_id=0, username="matrix-setup", role="admin", site_ids=frozenset())
_LEVELS = ("T4", "T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3")


def _fresh(web: Web, code: str, kind: str) -> dict[str, Any]:
    """Values for a new record of ``kind`` that clash with nothing stored."""
    n = next(_counter)
    if kind == "vertebrae":
        return {"level": _LEVELS[n % len(_LEVELS)], "treated": False}
    if kind == "visits":
        return {"timepoint": f"d{n + 1}", "vas": 3}
    if kind == "adverse-events":
        return {"event_date": (dt.date(2024, 1, 1) + dt.timedelta(days=n)).isoformat(),
                "type": "other"}  # fmt: skip
    if kind == "procedures":
        level = _LEVELS[n % len(_LEVELS)]
        editing.create_item(
            web.registry, _ADMIN, code, "vertebrae", {"level": level, "treated": True}
        )
        return {"procedure_date": "2024-01-01", "levels": [{"level": level}]}
    # measurements: on the preop visit the fixture records, of a vertebra made for it
    level = _LEVELS[n % len(_LEVELS)]
    editing.create_item(web.registry, _ADMIN, code, "vertebrae", {"level": level, "treated": False})
    return {"level": level, "timepoint": "preop", "observer": f"obs{n}", "anterior_height_mm": 20}


_REMOVAL_ORDER = ("measurements", "procedures", "vertebrae", "visits", "adverse-events")
_MADE_WITH = {"procedures": "vertebrae", "measurements": "vertebrae"}
"""The other kind :func:`_fresh` makes a record of for a kind's new record."""


def _cleanup(web: Web, code: str, kind: str) -> None:
    """Remove every record of ``kind`` (and of the kind made with it) of patient ``code``
    that a row made (the fixture's preop visit stays); the other kinds were not touched."""
    touched = {kind, _MADE_WITH.get(kind, kind)}
    for name in (name for name in _REMOVAL_ORDER if name in touched):
        for item in editing.list_items(web.registry, _ADMIN, code, name):
            if name == "visits" and item["timepoint"] == "preop":
                continue
            editing.delete_item(
                web.registry, _ADMIN, code, name, item["id"], version=item["version"]
            )


def _upload() -> dict[str, Any]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("patients.csv", "patient_id,site,sex,age\nIMP-1,MAIN,F,70\n")
    return {"file": ("book.zip", buffer.getvalue(), "application/zip")}


def call(web: Web, method: str, path: str, role: str, target: str) -> Any:
    """The request of one row of ``ROWS``; None for the rows of other areas."""
    if (method, path) not in {(m, p) for m, p, *_ in ROWS}:
        return None
    revoking = path == "/api/v1/auth/revoke"
    headers = {} if role == "anonymous" else web.bearer(role, fresh=revoking)
    client = web.client
    if path == "/api/v1/report" or path == "/api/v1/export":
        return client.get(path, headers=headers)
    if path == "/api/v1/import":
        return client.post(path + "?dry_run=true", files=_upload(), headers=headers)
    if path == "/api/v1/auth/revoke":
        return client.post(path, headers=headers)
    if path == "/api/v1/patients":
        code = f"NEW-{next(_counter)}"
        site = "MAIN" if target == "own" else "OTHER"
        body = {"patient_id": code, "site": site, "sex": "M", "age": 70}
        return client.post(path, json=body, headers=headers)
    code = _TARGETS[target]
    if path == "/api/v1/patients/{patient_id}":
        temporary = f"TMP-{next(_counter)}"
        site = "MAIN" if target == "own" else "OTHER"
        made = editing.create_patient(
            web.registry, _ADMIN, {"patient_id": temporary, "site": site, "sex": "F", "age": 66}
        )
        url = f"/api/v1/patients/{temporary}"
        if method == "PATCH":
            return client.patch(url, json={"age": 67, "version": made["version"]}, headers=headers)
        return client.delete(f"{url}?version={made['version']}", headers=headers)
    kind = path.split("/")[5]
    base = f"/api/v1/patients/{code}/{kind}"
    try:
        if path.endswith("{item_id}"):
            made = editing.create_item(web.registry, _ADMIN, code, kind, _fresh(web, code, kind))
            url = f"{base}/{made['id']}"
            if method == "GET":
                return client.get(url, headers=headers)
            if method == "PATCH":
                change = {"version": made["version"]}
                change.update({"vas": 4} if kind == "visits" else {})
                return client.patch(url, json=change, headers=headers)
            return client.delete(f"{url}?version={made['version']}", headers=headers)
        if method == "GET":
            return client.get(base, headers=headers)
        return client.post(base, json=_fresh(web, code, kind), headers=headers)
    finally:
        _cleanup(web, code, kind)
