"""Property-based fuzzing of the whole API from its own OpenAPI contract: no input may produce a 5xx, and
every answer must match the schema it advertises. The store starts with the seed and a small POD so
that generated requests also reach existing objects, not only 404s."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from podswitch.api.app import create_app
from podswitch.store import Store
from tests.api.conftest import AUTH, SEED, TOKEN
from tests.api.test_switches import POD

_dir = tempfile.TemporaryDirectory(prefix="podswitch-schemathesis-")
_store = Store.open(Store.default_url(Path(_dir.name)))
app = create_app(_store, TOKEN)
app.state.controller.replace(POD + "!\n" + SEED.read_text(), actor="test")

schema = schemathesis.openapi.from_asgi("/openapi.json", app)
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_and_keeps_its_contract(case: schemathesis.Case) -> None:
    case.call_and_validate(headers=AUTH)
