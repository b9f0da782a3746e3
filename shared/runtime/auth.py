"""Who is calling and what they may do: API keys from configuration (`CRI_API_KEYS`) name principals (a role and a
subject), clients send `Authorization: Bearer <key>`, and each route names the roles it admits with `require`.

The subject says whose data a principal may see: an agency's agency key as intake computes it ("ori:<ORI>" or
"name:<STATE>:<lowercased name>"), a provider's provider_id, a staff member's name, another system's name.
"""

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.contract.validation import describe


class Role(StrEnum):
    AGENCY = "agency"
    PROVIDER = "provider"
    STAFF = "staff"
    SERVICE = "service"  # another system


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    subject: str = Field(min_length=1, description="Agency key, provider_id, staff member's or system's name.")

    @property
    def actor(self) -> str:
        """How records name who acted: `provider:iacp`, `staff:a.rivera@cops.example.gov`, `service:state-portal`."""
        return f"{self.role}:{self.subject}"


MIN_KEY_CHARS = 16  # a key short enough to guess is refused at start

# For the embedded stack and tests only: anyone who reads this file knows them. Deployments set CRI_API_KEYS.
DEV_STAFF_KEY = "cri-staff-dev-key"
DEV_SERVICE_KEY = "cri-service-dev-key"
DEV_API_KEYS = {
    DEV_STAFF_KEY: Principal(role=Role.STAFF, subject="dev-staff"),
    DEV_SERVICE_KEY: Principal(role=Role.SERVICE, subject="dev-service"),
}


def parse_api_keys(value: Any) -> dict[str, Principal]:
    """`CRI_API_KEYS` (JSON or an already parsed mapping) as principals by key; messages never repeat a key."""
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"CRI_API_KEYS is not valid JSON ({exc})") from None
    if not isinstance(value, Mapping):
        raise ValueError('CRI_API_KEYS must be a JSON object: {"<key>": {"role": ..., "subject": ...}}')
    principals = {}
    for number, (key, principal) in enumerate(value.items(), start=1):
        if len(key) < MIN_KEY_CHARS:
            raise ValueError(f"CRI_API_KEYS entry {number}: a key needs at least {MIN_KEY_CHARS} characters")
        try:
            principals[key] = principal if isinstance(principal, Principal) else Principal.model_validate(principal)
        except ValidationError as exc:
            raise ValueError(f"CRI_API_KEYS entry {number}: {describe(exc)}") from None
    return principals


def identify(keys: Mapping[str, Principal], given: str) -> Principal | None:
    """The principal of `given`, compared in constant time against every key, so timing tells nothing."""
    found = None
    for key, principal in keys.items():
        if hmac.compare_digest(given.encode(), key.encode()):
            found = principal
    return found


def authorize(keys: Mapping[str, Principal], given: str | None, roles: frozenset[Role]) -> Principal:
    """401 for no or an unknown key, 403 for a principal whose role is not admitted."""
    principal = identify(keys, given) if given else None
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail="an API key is required", headers={"WWW-Authenticate": "Bearer"}
        )
    if principal.role not in roles:
        raise forbidden(f"not allowed for the {principal.role} role")
    return principal


def forbidden(detail: str) -> HTTPException:
    """A known principal asking for what is not theirs (another agency's request, another provider's engagement)."""
    return HTTPException(status.HTTP_403_FORBIDDEN, detail=detail)


_bearer = HTTPBearer(auto_error=False, description="An API key from CRI_API_KEYS.")


async def _no_cookie() -> None:
    return None


def require(*roles: Role, cookie: str | None = None) -> Callable[..., Awaitable[Principal]]:
    """A dependency answering the caller's Principal when its role is one of `roles`; `cookie` also accepts the
    key from that cookie (for browsers, whose EventSource cannot send headers)."""
    admitted = frozenset(roles)
    from_cookie = APIKeyCookie(name=cookie, auto_error=False) if cookie else _no_cookie

    async def principal(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        cookie_key: Annotated[str | None, Depends(from_cookie)],
    ) -> Principal:
        keys = request.app.state.runtime.settings.api_keys
        return authorize(keys, bearer.credentials if bearer else cookie_key, admitted)

    return principal
