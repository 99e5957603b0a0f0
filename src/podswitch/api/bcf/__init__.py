"""The BCF-compatible APIs over the same controller: networkService (`network_service.py`, what
networking-bigswitch's `bsn_ml2` speaks) and the config tree (`config_tree.py`, what the seed's in-house L3
plugin spoke). docs/bcf-compat.md says what is supported and how to point an existing plugin here."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from fastapi import FastAPI

from ..errors import Refused, add_methods
from . import config_tree, network_service
from .auth import Guard, Sessions, load_users
from .common import install_errors

PREFIXES = (network_service.PREFIX + "/", config_tree.PREFIX + "/")
# Writes the front door lets through without credentials: the credentials are in the body (login) or are
# the path itself (a session's logout).
OPEN = (config_tree.LOGIN, config_tree.SESSION)


def install(app: FastAPI, admin_token: Callable[[], str], users: Mapping[str, str] | None = None) -> None:
    """Add both APIs to `app`. `users`: who may log in besides admin (default: `$PODSWITCH_BCF_USERS`)."""
    app.state.bcf_guard = Guard(admin_token, dict(load_users() if users is None else users), Sessions(admin_token))
    app.state.bcf_member_origination = os.environ.get(network_service.MEMBER_ORIGINATION_ENV) or "{instance}"
    install_errors(app)
    for module in (network_service, config_tree):
        app.include_router(module.router)
        add_methods(app, [(route.path, route.methods) for route in module.router.routes])


def owns(path: str) -> bool:
    return path.startswith(PREFIXES)


def problem(app: FastAPI, path: str, headers: Mapping[str, str]) -> Refused | None:
    """Why a write to a BCF path may not go on (checked from headers alone), or None."""
    if path == config_tree.LOGIN or path.startswith(config_tree.SESSION):
        return None
    guard: Guard = app.state.bcf_guard
    return guard.problem(headers)
