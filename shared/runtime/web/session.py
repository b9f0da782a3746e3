"""Who is signed in: the `cri_session` cookie names a session that intake keeps (people sign in there by
emailed link). In intake the lookup reads its own store; every other service asks intake's
`POST /v1/sessions/introspect` with its service key, and keeps each answer a few seconds.

Routes take `person: Annotated[Person, Depends(signed_in(Role.STAFF))]`: someone not signed in is sent to the
sign-in page, someone in another role gets the 403 page.
"""

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import httpx
from fastapi import HTTPException, Request, Response, status
from pydantic import EmailStr, Field

from shared.runtime.auth import Principal, Role

log = logging.getLogger(__name__)

COOKIE = "cri_session"


class Person(Principal):
    """A principal who is a person: the role and subject that say what they may see, and who they are."""

    email: EmailStr = Field(description="The address the person signed in with.")
    name: str = Field(description="How pages name the person.")


class SessionLookup(Protocol):
    async def __call__(self, token: str) -> Person | None:
        """The person of a live session, or None for an unknown, expired or ended one."""


class SignInRequired(Exception):
    """No live session: the person is sent to the sign-in page (pages.py answers it)."""


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE) or None


async def current_person(request: Request) -> Person | None:
    """The signed-in person, or None; looked up once per request. When the sessions cannot be read (intake or
    its database away), a 503 page that says to try again: never a 500, and never a silent sign-out."""
    if not hasattr(request.state, "person"):
        token = session_token(request)
        lookup: SessionLookup = request.app.state.web.sessions
        try:
            request.state.person = await lookup(token) if token else None
        except Exception as exc:  # noqa: BLE001 - whatever the lookup's I/O raised, the person sees the same page
            log.warning("the session could not be looked up: %r", exc)
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "We cannot check who you are right now. Try again in a moment.",
                headers={"Retry-After": "5"},
            ) from exc
    return request.state.person


def signed_in(*roles: Role) -> Callable[[Request], Awaitable[Person]]:
    """A dependency answering the signed-in Person when their role is one of `roles` (any role when none)."""
    admitted = frozenset(roles)

    async def person(request: Request) -> Person:
        found = await current_person(request)
        if found is None:
            raise SignInRequired
        if admitted and found.role not in admitted:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"This page is not open to the {found.role} role.")
        return found

    return person


def set_session_cookie(response: Response, request: Request, token: str, max_age_s: int) -> None:
    # HttpOnly: no script reads it. Lax: following a link from elsewhere keeps the person signed in, while
    # other sites' forms and scripts do not carry it. Path=/: cookies are per host, so routing and engagements
    # on the same host receive it too and ask intake who it is.
    response.set_cookie(
        COOKIE, token, max_age=max_age_s, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax")


class IntakeSessions:
    """The lookup for services other than intake: intake's introspection endpoint, each answer (a person or
    none) kept `ttl_s` seconds, so a page and its assets ask once; sign-out reaches them within that time."""

    def __init__(self, client: httpx.AsyncClient, api_key: str, ttl_s: float = 5.0, max_kept: int = 10_000) -> None:
        self._client = client  # base_url = intake's URL; created and closed by the service's lifespan
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._ttl_s = ttl_s
        self._max_kept = max_kept
        self._kept: dict[str, tuple[float, Person | None]] = {}

    async def __call__(self, token: str) -> Person | None:
        now = time.monotonic()
        kept = self._kept.get(token)
        if kept is not None and kept[0] > now:
            return kept[1]
        answer = await self._client.post("/v1/sessions/introspect", json={"token": token}, headers=self._headers)
        # 401 without a Bearer challenge: no live session. A refused service key (401 with the challenge) or
        # intake away raises: the page fails, it does not quietly sign the person out.
        if answer.status_code == status.HTTP_401_UNAUTHORIZED and "www-authenticate" not in answer.headers:
            person = None
        else:
            answer.raise_for_status()
            person = Person.model_validate(answer.json())
        if len(self._kept) >= self._max_kept:
            self._kept = {t: entry for t, entry in self._kept.items() if entry[0] > now}
        self._kept[token] = (now + self._ttl_s, person)
        return person
