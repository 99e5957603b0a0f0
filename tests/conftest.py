"""Settings for the whole suite.

Under `make mutate` (PODSWITCH_MUTATION=1) every mutant runs the tests that reach the mutated function, so
the property tests run with few, fixed examples: at most MUTATION_EXAMPLES per test, derandomized (the same
examples for every mutant, so a survivor stays a survivor from run to run) and without the example database
(whose replays would make one mutant's verdict depend on the mutants before it)."""

from __future__ import annotations

import os

import pytest

MUTATION_EXAMPLES = 10


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not os.environ.get("PODSWITCH_MUTATION"):
        return
    from hypothesis import settings

    for item in items:
        test = getattr(item, "obj", None)
        current = getattr(test, "_hypothesis_internal_use_settings", None)
        if current is not None and current.max_examples > MUTATION_EXAMPLES:
            test._hypothesis_internal_use_settings = settings(  # type: ignore[union-attr]
                current, max_examples=MUTATION_EXAMPLES, derandomize=True, database=None
            )
        elif current is not None:
            test._hypothesis_internal_use_settings = settings(current, derandomize=True, database=None)  # type: ignore[union-attr]
