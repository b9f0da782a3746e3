"""`cri`: run and operate CRI Exchange from a terminal."""

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="CRI Exchange: the request-for-assistance pipeline of the Collaborative Reform Initiative.")


@app.command()
def up(
    home: Annotated[Path, typer.Option(help="Folder for embedded servers' data and service logs.")] = Path(".cri"),
) -> None:
    """Start the whole system: embedded PostgreSQL, broker and SMTP sink, then the four services."""
    import logging

    from shared.stack.runner import run_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_forever(home.resolve())


@app.command("export-schemas")
def export_schemas() -> None:
    """Write the JSON Schema of the envelope and of every event version to shared/contract/schemas/."""
    from shared.contract.schemas import write_schemas

    for path in write_schemas():
        typer.echo(path)


@app.command()
def setup() -> None:
    """Create the catalog's topics and apply every service's migrations (the compose one-shot job)."""
    import asyncio
    from importlib.resources import files

    from shared.broker import ensure_topics
    from shared.db import migrate
    from shared.settings import ServiceSettings
    from shared.stack.runner import SERVICES

    settings = ServiceSettings()

    async def run() -> None:
        created = await ensure_topics(settings.kafka_bootstrap_servers)
        typer.echo(f"topics created: {', '.join(created) or 'none (all exist)'}")
        for name in SERVICES:
            applied = await migrate(settings.database_url, name, files(f"services.{name}") / "migrations")
            typer.echo(f"{name}: {len(applied)} migration(s) applied")

    asyncio.run(run())


def main() -> None:
    app()
