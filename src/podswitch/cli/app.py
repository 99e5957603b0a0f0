"""The typer application, its command groups and what every command shares: options, the API client, and
turning a refused request into a message and a non-zero exit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import pydantic
import typer

from ..client import ApiError, Client
from .output import failure
from .settings import ACTOR, TOKEN_ENV, controller_urls, find_token

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    help="podswitch: one big switch made of a leaf-spine POD of Linux switches.",
)
show_app = typer.Typer(no_args_is_help=True, help="Show intent, history and fabric state.")
config_app = typer.Typer(no_args_is_help=True, help="Offline tools for running-config text.")
tenant_app = typer.Typer(no_args_is_help=True, help="Create and delete tenants.")
segment_app = typer.Typer(no_args_is_help=True, help="Create and delete segments and their members.")
endpoint_app = typer.Typer(no_args_is_help=True, help="Create and delete endpoints.")
router_app = typer.Typer(no_args_is_help=True, help="Change a tenant's logical router.")
app.add_typer(show_app, name="show")
app.add_typer(config_app, name="config")
app.add_typer(tenant_app, name="tenant")
app.add_typer(segment_app, name="segment")
app.add_typer(endpoint_app, name="endpoint")
app.add_typer(router_app, name="router")

Url = Annotated[
    str | None,
    typer.Option("--url", envvar="PODSWITCH_URL", help="controller URL (several, comma-separated, fail over)"),
]
Token = Annotated[str | None, typer.Option("--token", help=f"admin token (default ${TOKEN_ENV})")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="show the plan, change nothing")]

T = TypeVar("T")


def client(url: str | None, token: str | None = None) -> Client:
    """A client of the controller(s): long timeouts (a full replace of a large fabric takes a while), a few
    retries of what is safe to retry."""
    return Client(controller_urls(url), token=find_token(token), actor=ACTOR, timeout=600.0, retries=2)


def run_api(fn: Callable[[], T]) -> T:
    """Call fn; turn a refused or failed request into a message and exit code 1."""
    try:
        return fn()
    except ApiError as exc:
        message = exc.message
        if exc.status == 401:
            message += f" (set {TOKEN_ENV} or pass --token)"
        failure(message, exc.body)
        raise typer.Exit(1) from None
    except pydantic.ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"])
        failure(f"{field}: {first['msg']}" if field else first["msg"])
        raise typer.Exit(2) from None
