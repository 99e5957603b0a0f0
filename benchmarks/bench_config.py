"""parse and render of the running-config of 1,000 tenants / 10,000 segments / 100,000 endpoints.
Baseline: pydantic's own JSON round trip of the same intent (what any JSON API would pay)."""

from __future__ import annotations

from benchmarks.common import Result, emit, large_text, timed
from podswitch.config import parse, render
from podswitch.model import Intent


def main() -> None:
    text = large_text()
    parse_s, intent = timed(lambda: parse(text, validate=True))
    parse_nv_s, _ = timed(lambda: parse(text, validate=False))
    render_s, rendered = timed(lambda: render(intent), repeat=3)
    assert rendered == text
    dump_s, blob = timed(lambda: intent.model_dump_json(), repeat=2)
    load_s, _ = timed(lambda: Intent.model_validate_json(blob))
    emit(
        Result(
            "config: render 100k endpoints",
            render_s,
            "s",
            "<= 1 s",
            "pydantic model_dump_json",
            dump_s,
            render_s <= 1.0,
        )
    )
    emit(Result("config: parse + validate 100k endpoints", parse_s, "s", "", "pydantic model_validate_json", load_s))
    emit(
        Result("config: parse without cross-object checks", parse_nv_s, "s", "", "pydantic model_validate_json", load_s)
    )


if __name__ == "__main__":
    main()
