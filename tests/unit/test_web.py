"""The web foundation every page uses (shared/runtime/web): tokens, form tokens, form reading within limits,
field errors, the session dependency and error pages, in-process with a fake session lookup."""

import json
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, EmailStr, Field, ValidationError

from shared.runtime.auth import Role
from shared.runtime.web.csrf import ANONYMOUS_COOKIE, csrf_token, csrf_valid
from shared.runtime.web.forms import field_errors, read_form
from shared.runtime.web.pages import Web, local_path, web_of
from shared.runtime.web.session import COOKIE, IntakeSessions, Person, signed_in
from shared.runtime.web.tokens import new_token, token_digest

STAFF = Person(role=Role.STAFF, subject="a.rivera@cops.example.gov", email="a.rivera@cops.example.gov", name="A")


class FakeSessions:
    """Sessions by token, as intake's store would answer them; the token "down" finds the store away."""

    def __init__(self, **people: Person) -> None:
        self.people = people

    async def __call__(self, token: str) -> Person | None:
        if token == "down":
            raise ConnectionRefusedError("the sessions are away")
        return self.people.get(token)


def test_tokens_are_256_bit_random_and_stored_as_their_sha256():
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100
    assert all(len(token) == 43 for token in tokens)  # 32 bytes, URL-safe base64 without padding
    token = next(iter(tokens))
    assert token_digest(token) == token_digest(token) and len(token_digest(token)) == 32
    assert token_digest(token) != token.encode()


def test_a_form_token_matches_only_its_own_cookie():
    session, other = new_token(), new_token()
    assert csrf_valid(session, csrf_token(session))
    assert not csrf_valid(other, csrf_token(session))
    assert not csrf_valid(session, "")
    assert not csrf_valid(None, csrf_token(session))
    assert not csrf_valid(session, csrf_token(session)[:-1] + "é")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/account", "/account"),
        ("/requests?page=2", "/requests?page=2"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("account", "/"),
        ("/a\nSet-Cookie: x", "/"),
        (None, "/"),
    ],
)
def test_only_paths_on_this_site_are_followed_after_sign_in(given, expected):
    assert local_path(given) == expected


class Contact(BaseModel):
    name: str = Field(min_length=1)
    email: EmailStr


class Body(BaseModel):
    contact: Contact
    topics: list[str] = Field(min_length=1)


def test_field_errors_name_each_field_once_by_its_dotted_id():
    with pytest.raises(ValidationError) as raised:
        Body.model_validate({"contact": {"name": "", "email": "not-an-email"}, "topics": []})
    errors = field_errors(raised.value)
    assert list(errors) == ["contact.name", "contact.email", "topics"]
    assert errors["contact.name"].startswith("String should have at least 1 character")
    assert "email" in errors["contact.email"]


def app_with_pages() -> FastAPI:
    app = FastAPI()
    web = Web([], FakeSessions(good=STAFF))
    web.install(app)

    @app.get("/form")
    async def form(request: Request):
        return await web_of(request).render(request, "error.html", title="A form", message=None)

    @app.post("/form")
    async def post(request: Request):
        fields = await read_form(request, max_bytes=200)
        web_of(request).check_form(request, fields)
        return {"fields": fields.multi_items()}

    @app.get("/staff-only")
    async def staff_only(person: Annotated[Person, Depends(signed_in(Role.STAFF))]):
        return {"email": person.email}

    @app.get("/agency-only")
    async def agency_only(person: Annotated[Person, Depends(signed_in(Role.AGENCY))]):
        return {"email": person.email}

    return app


HTML = {"Accept": "text/html"}
FORM = {"Content-Type": "application/x-www-form-urlencoded", **HTML}


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=app_with_pages())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as started:
        yield started


async def test_a_page_gives_a_new_browser_an_anonymous_cookie_and_a_token_for_it(client):
    page = await client.get("/form", headers=HTML)
    assert page.status_code == 200
    assert "An official website of the United States government" in page.text
    assert 'href="#main-content"' in page.text and 'id="main-content"' in page.text
    cookie = page.cookies[ANONYMOUS_COOKIE]
    set_cookie = page.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=strict" in set_cookie and "path=/" in set_cookie
    assert (
        page.headers["cache-control"] == "no-store"
        and "frame-ancestors 'none'" in page.headers["content-security-policy"]
    )
    sent = await client.post("/form", content=f"csrf_token={csrf_token(cookie)}&topic=a&topic=b", headers=FORM)
    assert sent.status_code == 200
    assert sent.json()["fields"][1:] == [["topic", "a"], ["topic", "b"]]


async def test_a_form_without_its_token_is_refused_with_a_page(client):
    await client.get("/form", headers=HTML)
    for body in ("name=x", f"csrf_token={csrf_token(new_token())}"):
        refused = await client.post("/form", content=body, headers=FORM)
        assert refused.status_code == 403
        assert "text/html" in refused.headers["content-type"]
        assert "This form has expired or was not sent from this site" in refused.text


async def test_a_signed_in_form_is_bound_to_the_session(client):
    client.cookies.set(COOKIE, "good")
    page = await client.get("/form", headers=HTML)
    assert ANONYMOUS_COOKIE not in page.cookies
    assert "Signed in as" in page.text and "Sign out" in page.text
    assert (await client.post("/form", content=f"csrf_token={csrf_token('good')}", headers=FORM)).status_code == 200


@pytest.mark.parametrize(
    ("headers", "body", "status", "says"),
    [
        ({"Content-Type": "application/json", **HTML}, "{}", 415, "forms sent by a browser"),
        (FORM, "x=" + "a" * 300, 413, "larger than"),
        (FORM, b"x=\xff\xfe", 422, "could not be read"),
    ],
)
async def test_a_malformed_or_oversized_form_gets_a_page_not_a_500(client, headers, body, status, says):
    answer = await client.post("/form", content=body, headers=headers)
    assert answer.status_code == status
    assert "text/html" in answer.headers["content-type"] and says in answer.text


async def test_errors_are_pages_for_browsers_and_json_for_machines(client):
    page = await client.get("/nowhere", headers=HTML)
    assert page.status_code == 404 and "Page not found" in page.text
    machine = await client.get("/nowhere")
    assert machine.status_code == 404 and machine.json() == {"detail": "Not Found"}


async def test_signed_in_sends_strangers_to_sign_in_and_refuses_other_roles(client):
    stranger = await client.get("/staff-only?x=1", headers=HTML)
    assert stranger.status_code == 303
    assert stranger.headers["location"] == "/sign-in?next=/staff-only%3Fx%3D1"
    client.cookies.set(COOKIE, "good")
    assert (await client.get("/staff-only", headers=HTML)).json() == {"email": STAFF.email}
    refused = await client.get("/agency-only", headers=HTML)
    assert refused.status_code == 403 and "not open to the staff role" in refused.text
    client.cookies.set(COOKIE, "expired")
    assert (await client.get("/staff-only", headers=HTML)).status_code == 303


async def test_the_uswds_assets_are_served(client):
    css = await client.get("/static/uswds/css/uswds.min.css")
    assert css.status_code == 200 and "usa-banner" in css.text
    assert (await client.get("/static/uswds/img/us_flag_small.png")).status_code == 200
    assert "overflow-wrap" in (await client.get("/static/site/site.css")).text


async def test_sessions_that_cannot_be_read_give_a_page_that_says_so_not_a_500(client):
    client.cookies.set(COOKIE, "down")
    for path in ("/staff-only", "/form"):
        page = await client.get(path, headers=HTML)
        assert page.status_code == 503 and page.headers["retry-after"] == "5"
        assert "We cannot check who you are right now" in page.text and "Sign in" in page.text


def intake_answering(answer: httpx.Response, asked: list[str]) -> httpx.AsyncClient:
    """A client whose intake is a function (httpx's own fake transport): it records the tokens asked."""

    def introspect(request: httpx.Request) -> httpx.Response:
        asked.append(json.loads(request.content)["token"])
        assert request.headers["authorization"] == "Bearer service-key-123456"
        return answer

    return httpx.AsyncClient(transport=httpx.MockTransport(introspect), base_url="http://intake")


async def test_other_services_ask_intake_once_per_token_for_a_few_seconds():
    asked: list[str] = []
    sessions = IntakeSessions(
        intake_answering(httpx.Response(200, json=STAFF.model_dump()), asked), "service-key-123456"
    )
    assert await sessions("t1") == STAFF and await sessions("t1") == STAFF
    assert asked == ["t1"]
    expired = IntakeSessions(
        intake_answering(httpx.Response(200, json=STAFF.model_dump()), asked), "service-key-123456", ttl_s=0
    )
    await expired("t2")
    await expired("t2")
    assert asked == ["t1", "t2", "t2"]


async def test_no_session_is_none_but_a_refused_key_or_an_error_raises():
    asked: list[str] = []
    no_session = IntakeSessions(intake_answering(httpx.Response(401), asked), "service-key-123456")
    assert await no_session("t") is None
    refused = httpx.Response(401, headers={"WWW-Authenticate": "Bearer"})
    for answer in (refused, httpx.Response(500)):
        with pytest.raises(httpx.HTTPStatusError):
            await IntakeSessions(intake_answering(answer, asked), "service-key-123456")("t")
