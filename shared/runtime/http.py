"""The HTTP side every service shares: the app factory (lifespan that starts the runtime, health, readiness,
metrics), a server span per request, a 503 while starting, and the process's server."""

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.telemetry import TelemetryConfig
from opentelemetry.trace import SpanKind
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.runtime.contract_page import asyncapi_document, render_page
from shared.runtime.lifecycle import ServiceRuntime
from shared.runtime.settings import ServiceSettings
from shared.runtime.tracing import setup_tracing, span

log = logging.getLogger(__name__)


def create_service_app(runtime: ServiceRuntime, *, title: str, description: str, version: str = "1.0.0") -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Serve health at once; the service itself starts when PostgreSQL and the broker answer.
        starting = asyncio.create_task(runtime.start(), name=f"{runtime.name}-start")
        starting.add_done_callback(_exit_if_failed)
        try:
            yield
        finally:
            starting.cancel()
            with suppress(asyncio.CancelledError):
                await starting
            await runtime.stop()

    # FastAPI's own telemetry is off: _TraceAndGate opens the one server span per request, and FastAPI would add
    # a second one plus a span per dependency (a tenth of intake's time per request).
    no_native_telemetry: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
    app = FastAPI(
        title=title, description=description, version=version, lifespan=lifespan, telemetry=no_native_telemetry
    )
    app.state.runtime = runtime

    app.add_middleware(_TraceAndGate, runtime=runtime)
    app.add_exception_handler(asyncpg.DataError, _data_refused)

    @app.get("/health/live", tags=["health"])
    async def live() -> dict[str, str]:
        return {"status": "alive", "service": runtime.name}

    @app.get("/metrics", tags=["health"], include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    # A page for people, so not in the OpenAPI document (the API for machines), like every other page.
    @app.get("/asyncapi", tags=["contract"], response_class=HTMLResponse, include_in_schema=False)
    async def asyncapi_page() -> HTMLResponse:
        """The events this service publishes and consumes, for people (fields, topics, an example of each)."""
        return HTMLResponse(render_page(runtime.name, asyncapi_document(runtime.broker, runtime.name)))

    @app.get("/asyncapi.json", tags=["contract"])
    async def asyncapi_json() -> dict[str, Any]:
        """This service's AsyncAPI 3.0 document (docs/asyncapi/<service>.json)."""
        return asyncapi_document(runtime.broker, runtime.name)

    @app.get("/health/ready", tags=["health"])
    async def ready(response: Response) -> dict[str, object]:
        ok, checks = await runtime.is_ready()
        response.status_code = 200 if ok else 503
        return {"status": "ready" if ok else "not ready", "service": runtime.name, "checks": checks}

    return app


_ALWAYS_SERVED = ("/health", "/metrics", "/docs", "/openapi.json", "/asyncapi")


class _TraceAndGate:
    """Pure ASGI middleware (cheaper than BaseHTTPMiddleware): a server span per HTTP request, continuing the
    caller's trace; 503 for the API while the service is still starting."""

    def __init__(self, app: ASGIApp, runtime: ServiceRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if not self.runtime.ready and not path.startswith(_ALWAYS_SERVED):
            starting = JSONResponse(
                {"detail": f"{self.runtime.name} is starting: waiting for PostgreSQL and the broker"},
                status_code=503,
                headers={"Retry-After": "2"},
            )
            await starting(scope, receive, send)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        with span(f"{scope['method']} {path}", headers, SpanKind.SERVER):
            await self.app(scope, receive, send)


async def _data_refused(_request: Request, exc: Exception) -> JSONResponse:
    """A value PostgreSQL refuses (SQLSTATE class 22: out of range, bad encoding...) came from the caller: a 422
    naming the problem, never a 500. The models bound what they can; this is the net under them."""
    return JSONResponse({"detail": f"value not accepted: {exc}"}, status_code=422)


def _exit_if_failed(starting: asyncio.Task) -> None:
    """A start that fails for good (not an outage, which is retried) must not leave a live, useless process."""
    if not starting.cancelled() and starting.exception() is not None:
        log.critical("start failed: %r; exiting", starting.exception(), exc_info=starting.exception())
        os.kill(os.getpid(), signal.SIGTERM)


def runtime_of(request: Request) -> ServiceRuntime:
    return request.app.state.runtime


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    """Run one service process until SIGINT/SIGTERM; uvicorn runs the lifespan shutdown on either."""
    setup_tracing(app.state.runtime.name)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        timeout_graceful_shutdown=10,
        # libuv's loop and the C HTTP parser: a service spends much of its CPU in the event loop and in HTTP.
        loop="uvloop",
        http="httptools",
    )
