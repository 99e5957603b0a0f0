"""Property-based fuzzing of the whole API from its own OpenAPI contract, with every check schemathesis has:
no input may produce a 5xx, every answer matches the schema it advertises, a request the schema admits is
accepted (or refused only for the state it meets: 404, 409, 412), one it does not admit is refused, auth is
enforced, and 405s name the methods the document gives. The store starts with the seed and a small POD so
that generated requests also reach existing objects, not only 404s.

The document states every rule a JSON Schema can state. The few it cannot (two values of one request
compared, addresses compared as addresses, 10.0 for 10) are in EXCEPTIONS below: a 422 for a request the
schema admits is accepted only when every problem the answer names is one of those rules, on an operation
the rule concerns. Nothing else is excepted: no check is left out, no status is expected anywhere but
412 on the two operations that take If-Match."""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import jsonschema_rs
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.core import NOT_SET
from schemathesis.core.failures import Failure
from schemathesis.core.transport import Response
from schemathesis.openapi.checks import RejectedPositiveData

from podswitch.api.app import create_app
from podswitch.api.bodies import LINK_NAME_PATTERN, NAME_PATTERN
from podswitch.store import Store
from tests.api.conftest import SEED, TOKEN
from tests.api.test_switches import POD
from tests.strategies import FORMATS

_dir = tempfile.TemporaryDirectory(prefix="podswitch-schemathesis-")
_store = Store.open(Store.default_url(Path(_dir.name)))
app = create_app(_store, TOKEN)
INTENT = POD + "!\n" + SEED.read_text()
app.state.controller.replace(INTENT, actor="test")

# Our own string formats (ip-prefix, ip-interface, running-config): drawn as their descriptions say.
for _name, _format in FORMATS.items():
    schemathesis.openapi.format(_name, _format.strategy)

# A conditional write (If-Match) that the schema admits meets a revision that moved on: 412, as a write
# meets an object that exists (409). Only on the two operations that take If-Match.
_POSITIVE = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis's default
CONFIG = SchemathesisConfig.from_dict(
    {
        # Writes carry the admin token; schemathesis itself leaves it out of the requests that test auth.
        "auth": {"openapi": {"HTTPBearer": {"bearer": TOKEN}}},
        "operations": [
            {"include-name": name, "checks": {"positive_data_acceptance": {"expected-statuses": [*_POSITIVE, "412"]}}}
            for name in ("PUT /v1/running-config", "POST /v1/transactions")
        ],
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
_DOCUMENT = app.openapi()
_CHECKS = {name: fmt.check for name, fmt in FORMATS.items()}


@cache
def _body_schema(path: str, method: str, media_type: str) -> jsonschema_rs.Validator:
    content = _DOCUMENT["paths"][path][method]["requestBody"]["content"][media_type]
    document = {**content["schema"], "components": _DOCUMENT["components"]}
    return jsonschema_rs.validator_for(document, validate_formats=True, formats=_CHECKS)


@schema.hook
def filter_case(_: Any, case: schemathesis.Case) -> bool:
    """A case drawn as valid is valid by our own formats too. Schemathesis draws values of a format from
    the strategy registered for it, but the boundary values of the coverage phase (the shortest string a
    pattern and minLength admit, say) from the other keywords alone: it has no checker for a format of
    ours, so it cannot tell that `0` is no running-config text. Such a case is no valid request; drop it."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or case.media_type is None or case.body is NOT_SET:
        return True
    return _body_schema(case.operation.path, case.method.lower(), case.media_type).is_valid(case.body)


ROUTER = "PUT /v1/tenants/{tenant}/logical-router"
LINKS = "POST /v1/links"
TRANSACTIONS = "POST /v1/transactions"
ENDPOINTS = (
    "POST /v1/tenants/{tenant}/segments/{segment}/endpoints",
    "PUT /v1/tenants/{tenant}/segments/{segment}/endpoints/{endpoint}",
)


@dataclass(frozen=True)
class Rule:
    """A rule JSON Schema cannot state, why, the operations whose requests it concerns, and the message that
    names it in a 422."""

    rule: str
    why: str
    operations: tuple[str, ...]
    message: re.Pattern[str]
    applies: Any = None  # an extra condition on the request, when the message alone does not show it

    def allows(self, operation: str, message: str, body: Any) -> bool:
        return (
            operation in self.operations
            and self.message.search(message) is not None
            and (self.applies is None or self.applies(body))
        )


def _whole_floats(value: Any) -> Iterator[float]:
    if isinstance(value, float) and value.is_integer():
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _whole_floats(item)
    elif isinstance(value, list):
        for item in value:
            yield from _whole_floats(item)


EXCEPTIONS = (
    Rule(
        "a link joins two different ports",
        "JSON Schema cannot compare two values of one instance (a.switch/a.interface with b's)",
        (LINKS, TRANSACTIONS),
        re.compile(r"a link cannot join \S+ to itself"),
    ),
    Rule(
        "a transaction's link put names the link its path names",
        "JSON Schema cannot compare the path string with the body's fields",
        (TRANSACTIONS,),
        re.compile(r"the body describes link \S+, but the path names \S+"),
    ),
    Rule(
        "a port range ends at or after its start",
        "JSON Schema cannot compare two values of one instance (last >= first)",
        (ROUTER, TRANSACTIONS),
        re.compile(r"port range \d+-\d+ ends before it starts"),
    ),
    Rule(
        "a router's interfaces, routes and policy-lists are each named once, and a policy-list's rules each "
        "have their own seq",
        "uniqueItems compares whole items, not one field of them (segment, prefix, name, seq)",
        (ROUTER, TRANSACTIONS),
        re.compile(
            r"an interface segment is listed twice|a route prefix is listed twice|"
            r"a policy-list name is listed twice|policy-list \S+ has two rules with the same seq"
        ),
    ),
    Rule(
        "addresses are listed once, compared as addresses",
        "uniqueItems compares text: '::1' and '0::1' (or a prefix length with a leading 0) are one address",
        (ROUTER, TRANSACTIONS, *ENDPOINTS),
        re.compile(r"an IP address is listed twice|interface segment \S+ lists an address twice"),
    ),
    Rule(
        "a tenant's router links only to tenant system, and system's to other tenants",
        "the rule is between the path's tenant and the body's tenant_interfaces",
        (ROUTER, TRANSACTIONS),
        re.compile(
            r"a router cannot link to its own tenant|tenants link only to tenant system, the way between tenants"
        ),
    ),
    Rule(
        "a whole number is written without a fraction part (10, not 10.0)",
        "JSON Schema's integer admits 10.0 (the same number); the model refuses it (model/types.py: _whole)",
        (ROUTER, TRANSACTIONS, *ENDPOINTS),
        re.compile(r"(VLAN|port|sequence number) must be a whole number from \d+ to \d+"),
        applies=lambda body: any(True for _ in _whole_floats(body)),
    ),
)


def _problems(response: Response) -> list[str]:
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError):
        return []
    return [str(p.get("message", "")) for p in error.get("problems") or [error]]


@schema.hook
def filter_failure(_: Any, failure: Failure, case: schemathesis.Case, response: Response) -> bool:
    """Keep every failure but a 422 for schema-valid data whose every problem is an EXCEPTIONS rule that
    concerns the operation."""
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 422:
        return True
    operation = case.operation.label
    problems = _problems(response)
    allowed = problems and all(any(e.allows(operation, p, case.body) for e in EXCEPTIONS) for p in problems)
    return not allowed


# Names the store has after `fresh_store`: a drawn path parameter that is a valid name is often one of
# these, so that requests reach existing objects and their validation, not only 404s.
KNOWN = {
    "tenant": ["demo.openstack", "system"],
    "segment": ["net_demo"],
    "endpoint": ["0485e7a0-198f-4b88-a877-ca79d3e882bc"],
    "interface_group": ["osvdev0013", "osvdev0014"],
    "vlan": [300],
    "name": ["leaf1", "leaf2", "spine1", "osvdev0013", "osvdev0014"],
    "link": ["leaf1:swp49-spine1:swp1", "leaf2:swp49-spine1:swp2"],
}
_NAMES = {
    "link": re.compile(LINK_NAME_PATTERN),
    **{key: re.compile(NAME_PATTERN) for key in ("tenant", "segment", "endpoint", "interface_group", "name")},
}


def _valid(key: str, value: Any) -> bool:
    if key == "vlan":
        return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 4094
    return isinstance(value, str) and _NAMES[key].match(unquote(value)) is not None


def _known(key: str) -> list[Any]:
    """The names of KNOWN[key] as a drawn value is spelled: %-escaped (a link's ':' is `%3A`)."""
    return [quote(k, safe="") if isinstance(k, str) else k for k in KNOWN[key]]


@schema.hook
def flatmap_path_parameters(_: Any, parameters: dict[str, Any] | None) -> st.SearchStrategy[dict[str, Any] | None]:
    """A valid path parameter is drawn again among the names the store has (or kept); an invalid one is
    kept, so a case stays as valid as it was drawn."""
    if not parameters:
        return st.just(parameters)
    return st.fixed_dictionaries(
        {
            key: st.sampled_from([value, *_known(key)]) if key in KNOWN and _valid(key, value) else st.just(value)
            for key, value in parameters.items()
        }
    )


@pytest.fixture(autouse=True)
def fresh_store() -> None:
    """Each operation starts from the seed and the small POD (a running-config test replaces everything)."""
    app.state.controller.replace(INTENT, actor="test")


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_fails_and_keeps_its_contract(case: schemathesis.Case) -> None:
    case.call_and_validate()  # every check schemathesis has (checks= would narrow them)
