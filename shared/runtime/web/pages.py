"""Pages for people: a Jinja2 environment over the service's templates and the shared ones (base layout, form
macros, error page), rendering with the form token and the headers every page carries, error pages for
browsers, and the vendored USWDS assets at /static/uswds.

A service builds one `Web` in its composition root and calls `install(app)`; its page routes then answer
`await web_of(request).render(request, "page.html", ...)`.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI, HTTPException, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.runtime.settings import ServiceSettings
from shared.runtime.web.csrf import ANONYMOUS_COOKIE, FIELD, csrf_token, csrf_valid
from shared.runtime.web.session import IntakeSessions, SessionLookup, SignInRequired, current_person, session_token
from shared.runtime.web.tokens import new_token

TEMPLATES = Path(__file__).parent / "templates"
USWDS = Path(__file__).parent / "static" / "uswds"
USWDS_URL = "/static/uswds"
SITE = Path(__file__).parent / "static" / "site"  # our own few styles beside USWDS
SITE_URL = "/static/site"

# Pages show personal data and carry form tokens: never cached, never framed, no referrer (a sign-in link's
# token is in its URL), scripts and styles from this site only.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none';"
    " frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

ERROR_TITLES = {
    400: "This request could not be understood",
    403: "You can't do that here",
    404: "Page not found",
    405: "This page can't be used that way",
    413: "What you sent is too large",
    415: "This page can't read what was sent",
    422: "What you sent could not be read",
    429: "Too many attempts",
    503: "This service is busy",
}


def local_path(value: str | None, default: str = "/") -> str:
    """`value` when it is a path on this site (to go back to after signing in), else `default`: never another
    site's address (`//evil.example`, `https://...`, `/\\evil.example`)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")) and value.isprintable():
        return value
    return default


class Web:
    def __init__(
        self,
        template_dirs: Sequence[Path],
        sessions: SessionLookup,
        *,
        sign_in_url: str = "/sign-in",
        sign_out_url: str = "/sign-out",
    ) -> None:
        self.sessions = sessions
        self.sign_in_url = sign_in_url
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader([*template_dirs, TEMPLATES])]),
            autoescape=True,
            undefined=StrictUndefined,  # a misspelt variable fails the test that renders it, not silently
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(uswds=USWDS_URL, site=SITE_URL, sign_in_url=sign_in_url, sign_out_url=sign_out_url)

    def install(self, app: FastAPI) -> None:
        app.state.web = self
        app.mount(USWDS_URL, StaticFiles(directory=USWDS), name="uswds")
        app.mount(SITE_URL, StaticFiles(directory=SITE), name="site")
        app.add_exception_handler(SignInRequired, self._sign_in_required)
        app.add_exception_handler(StarletteHTTPException, self._http_error)

    async def render(self, request: Request, template: str, *, status_code: int = 200, **context: Any) -> Response:
        """The page, with the person signed in (or None) and the form token; issues the anonymous form cookie
        to a browser that has neither it nor a session."""
        binding = _binding(request)
        issued = binding is None
        if binding is None:
            binding = new_token()
        html = self.env.get_template(template).render(
            request=request, person=await current_person(request), csrf_token=csrf_token(binding), **context
        )
        response = HTMLResponse(html, status_code, headers=PAGE_HEADERS)
        if issued:
            # Strict: a post from another site's page arrives without it, so its token cannot match.
            response.set_cookie(
                ANONYMOUS_COOKIE, binding, path="/", httponly=True, samesite="strict", secure=_https(request)
            )
        return response

    def check_form(self, request: Request, form: FormData) -> None:
        """403 unless the form carries the token of this browser's session (or anonymous cookie)."""
        given = form.get(FIELD)
        if not csrf_valid(_binding(request), given if isinstance(given, str) else None):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                "This form has expired or was not sent from this site. Go back, reload the page and send it again.",
            )

    async def _sign_in_required(self, request: Request, _exc: Exception) -> Response:
        target = self.sign_in_url
        if target.startswith("/"):  # our own sign-in page: come back here afterwards
            target += "?next=" + quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        return RedirectResponse(target, status.HTTP_303_SEE_OTHER)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if request.url.path.startswith("/v1/") or "text/html" not in request.headers.get("accept", ""):
            return await http_exception_handler(request, exc)  # APIs and machines keep their JSON
        try:
            await current_person(request)
        except Exception:  # noqa: BLE001 - the error page must render even when the session cannot be read
            request.state.person = None
        page = await self.render(
            request,
            "error.html",
            status_code=exc.status_code,
            title=ERROR_TITLES.get(exc.status_code, "Something went wrong"),
            message=exc.detail if isinstance(exc.detail, str) else None,
        )
        page.headers.update(exc.headers or {})
        return page


def intake_web(template_dirs: Sequence[Path], settings: ServiceSettings) -> Web:
    """The pages of a service other than intake: people sign in and out on intake's pages (`CRI_INTAKE_URL`), and
    each session is asked of intake with the service key `CRI_INTAKE_API_KEY`."""
    client = httpx.AsyncClient(base_url=settings.intake_url, timeout=5.0)  # one for the life of the process
    return Web(
        template_dirs,
        IntakeSessions(client, settings.intake_api_key.get_secret_value()),
        sign_in_url=f"{settings.intake_url}/sign-in",
        sign_out_url=f"{settings.intake_url}/sign-out",
    )


def web_of(request: Request) -> Web:
    return request.app.state.web


def _binding(request: Request) -> str | None:
    return session_token(request) or request.cookies.get(ANONYMOUS_COOKIE) or None


def _https(request: Request) -> bool:
    return request.url.scheme == "https"
