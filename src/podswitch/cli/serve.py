"""`podswitch serve`: the controller under uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ..daemon import setup_logging
from .app import app
from .output import console, failure
from .settings import DEFAULT_PORT, data_dir

if TYPE_CHECKING:
    from ..store import Store

DataDir = Annotated[
    str | None,
    typer.Option("--data-dir", envvar="PODSWITCH_DATA_DIR", help="where the embedded store and the admin token live"),
]


DATABASE_URL_ENV = "PODSWITCH_DATABASE_URL"  # store.DATABASE_URL_ENV, named here for --help without importing the store


def open_store(db: str | None, data: str | None) -> Store:
    # Imported here: SQLAlchemy and Alembic cost every other command (lab exec, agent) a second and more.
    from ..store import Store

    url = db or Store.configured_url(data_dir(data))
    return Store.open(url)


@app.command("serve")
def serve(
    db: Annotated[
        str | None,
        typer.Option("--db", help=f"database URL (default ${DATABASE_URL_ENV}, else SQLite in the data dir)"),
    ] = None,
    data: DataDir = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = DEFAULT_PORT,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Run the controller: REST API, desired state for the agents, history."""
    import uvicorn

    from ..api.app import create_app
    from ..api.auth import load_or_create_token
    from ..controller.duties import DutySettings
    from ..store import StoreUnavailable

    setup_logging(log_level)
    try:
        store = open_store(db, data)
        token, created = load_or_create_token(data_dir(data))
        if created:
            console.print(f"admin token (saved in {data_dir(data) / 'admin-token'}): [bold]{token}[/bold]")
        # Every `serve` competes for the background duties: with several on one PostgreSQL, one leads.
        application = create_app(store, token, duties=DutySettings.from_env(), address=f"{host}:{port}")
    except StoreUnavailable as exc:
        # Once running, a controller rides out a database outage; it cannot start without loading the intent.
        failure(f"cannot start: {exc.summary}")
        raise typer.Exit(1) from None
    console.print(f"podswitch controller on http://{host}:{port} (revision {store.head()})")
    uvicorn.run(application, host=host, port=port, log_level=log_level.lower(), access_log=False)
