"""PostgreSQL access: one schema per service, versioned migrations applied at start."""

import logging
import re
from pathlib import Path

import asyncpg
import orjson

log = logging.getLogger(__name__)

_PLUMBING_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def _migrations(folder: Path, prefix: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted(folder.glob("*.sql")):
        if not _MIGRATION_NAME.match(path.name):
            raise ValueError(f"migration file {path} is not named NNNN_snake_case.sql")
        found.append((f"{prefix}/{path.stem}", path.read_text()))
    return found


def _all_migrations(schema: str, migrations_dir: Path) -> list[tuple[str, str]]:
    return _migrations(_PLUMBING_MIGRATIONS, "shared") + _migrations(migrations_dir, schema)


async def pending_migrations(conn: asyncpg.Connection, schema: str, migrations_dir: Path) -> list[str]:
    """The migrations this code needs that the schema has not recorded (a restored or foreign database)."""
    done = {r["version"] for r in await conn.fetch(f'SELECT version FROM "{schema}".schema_migrations')}
    return [version for version, _ in _all_migrations(schema, migrations_dir) if version not in done]


async def migrate(database_url: str, schema: str, migrations_dir: Path) -> list[str]:
    """Create the service's schema and apply its pending migrations (plumbing first), once, under a lock."""
    conn = await asyncpg.connect(database_url)
    try:
        # Replicas starting together must not race on DDL: one applies, the others wait and find nothing to do.
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"migrate:{schema}")
        try:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await conn.execute(f'SET search_path TO "{schema}"')
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
            applied = []
            for version, sql in _all_migrations(schema, migrations_dir):
                if version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
                applied.append(version)
            if applied:
                log.info("applied migrations to schema %s: %s", schema, ", ".join(applied))
            return applied
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"migrate:{schema}")
    finally:
        await conn.close()


async def _init_connection(conn: asyncpg.Connection) -> None:
    # JSON columns come back as Python objects, not strings.
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pooled connections never change session state (no SET, LISTEN, session advisory locks or cursors outside
    a transaction; those use `connect`), so the default reset query, a round trip per release, is skipped.
    asyncpg still ends any open transaction."""


async def create_pool(database_url: str, schema: str, size: int) -> asyncpg.Pool:
    """A pool whose connections resolve unqualified names in the service's own schema."""
    return await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=size,
        server_settings={"search_path": schema},
        init=_init_connection,
        reset=_keep_session,
    )


async def connect(database_url: str, schema: str) -> asyncpg.Connection:
    """A single connection set up like the pool's (for listeners and advisory-lock holders)."""
    conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
    await _init_connection(conn)
    return conn
