"""Cross-site request forgery: every form carries a token another site cannot know.

The token is an HMAC keyed by a cookie that only this site's pages can read on the server: the session cookie
once a person is signed in, before that an anonymous cookie (`cri_form`, random, HttpOnly, SameSite=Strict). A
page from another site can make a browser post a form, but cannot read the cookie, so cannot compute the token.
Because the key is the cookie itself, every process of every service checks a token without a shared secret
(a page of engagements can carry a sign-out form that intake accepts).
"""

import hashlib
import hmac

FIELD = "csrf_token"
ANONYMOUS_COOKIE = "cri_form"
_PURPOSE = b"cri-exchange form"


def csrf_token(binding: str) -> str:
    """The form token for pages shown to the holder of the `binding` cookie."""
    return hmac.new(binding.encode(), _PURPOSE, hashlib.sha256).hexdigest()


def csrf_valid(binding: str | None, given: str | None) -> bool:
    """True when `given` is the token of `binding`; compared in constant time."""
    if not binding or not given:
        return False
    return hmac.compare_digest(csrf_token(binding).encode(), given.encode())
