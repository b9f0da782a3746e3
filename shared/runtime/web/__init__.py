"""What every page for people needs, whichever service serves it.

tokens.py   unguessable tokens and the digests stored in their place (sign-in links, sessions)
csrf.py     form tokens bound to the session, or to an anonymous cookie before sign-in
forms.py    reading a posted form within limits (413/415/422 as pages) and pydantic errors per field
session.py  the signed-in person: `signed_in(*roles)`, the session cookie, lookups in intake or over HTTP
pages.py    the Jinja2 environment, rendering with security headers, error pages, the static mount
templates/  base layout (USWDS banner, header, footer), form macros, the error page
static/     the vendored U.S. Web Design System (scripts/vendor-uswds refreshes it)
"""
