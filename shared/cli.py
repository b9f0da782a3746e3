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


def main() -> None:
    app()
