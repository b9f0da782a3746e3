"""Who may do what on Kafka: one SCRAM principal per service and per kind of outside client, and the least
privilege each needs, derived from the topic catalog's producers and consumers (a new topic cannot be
forgotten: whoever the catalog names gets its ACLs, and nobody else). Kafka's StandardAuthorizer enforces them;
`cri-setup` (a super user, like the broker itself) alone creates topics and ACLs."""

import asyncio
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest_v1, DescribeAclsRequest
from aiokafka.protocol.api import Request

from shared.contract.topics import CATALOG, TopicSpec

SETUP = "cri-setup"
# The catalog names outside parties by what they are; their principals by what they may do.
OUTSIDE_CLIENTS = {
    "external case-management systems": "cri-publisher",
    "dashboards": "cri-dashboard",
    "operators": "cri-ops",
}
PUBLISHER, DASHBOARD, OPS = OUTSIDE_CLIENTS.values()


def principal_of(party: str) -> str:
    """The principal of a producer or consumer named in the catalog: `cri-<service>` for a service."""
    return OUTSIDE_CLIENTS.get(party, f"cri-{party}")


def principals(catalog: Sequence[TopicSpec] = CATALOG) -> list[str]:
    """Every principal the system needs: each party of the catalog, then the setup job."""
    parties = {party for spec in catalog for party in (*spec.producers, *spec.consumers)}
    return [*sorted(principal_of(party) for party in parties), SETUP]


_ANY = 1  # resource type, pattern type, operation and permission "any" in an ACL filter
_ALLOW = 3


class Resource(IntEnum):
    TOPIC = 2
    GROUP = 3


class Pattern(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    """Kafka's ACL operations (READ and WRITE imply DESCRIBE; WRITE on a topic implies idempotent writes)."""

    READ = 3
    WRITE = 4
    DESCRIBE = 8


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW rule for one principal, from any host."""

    principal: str
    operation: Operation
    resource: Resource
    name: str
    pattern: Pattern = Pattern.LITERAL

    def matches(self, resource: Resource, name: str) -> bool:
        if resource is not self.resource:
            return False
        if self.pattern is Pattern.PREFIXED:
            return name.startswith(self.name)
        return self.name in (name, "*")


def consumer_groups(principal: str) -> list[Acl]:
    """A principal's own consumer groups: `<principal>` and `<principal>-...` (intake's `cri-intake-inbound`),
    never another's (no principal's name is another's followed by a dash)."""
    return [
        Acl(principal, Operation.READ, Resource.GROUP, principal),
        Acl(principal, Operation.READ, Resource.GROUP, f"{principal}-", Pattern.PREFIXED),
    ]


def acls(catalog: Sequence[TopicSpec] = CATALOG) -> list[Acl]:
    """Producers write their topics, consumers read theirs with their own groups, ops also sees every topic's
    and every group's offsets (lag)."""
    rules = {
        Acl(principal_of(party), operation, Resource.TOPIC, spec.name)
        for spec in catalog
        for parties, operation in ((spec.producers, Operation.WRITE), (spec.consumers, Operation.READ))
        for party in parties
    }
    readers = {rule.principal for rule in rules if rule.operation is Operation.READ}
    rules.update(group for reader in readers for group in consumer_groups(reader))
    rules.update(Acl(OPS, Operation.DESCRIBE, resource, "*") for resource in (Resource.TOPIC, Resource.GROUP))
    return sorted(rules)


def allowed(principal: str, operation: Operation, resource: Resource, name: str, rules: Iterable[Acl]) -> bool:
    """What the authorizer answers for these rules (READ and WRITE imply DESCRIBE); for the tests and docs."""
    implied = {operation} if operation is not Operation.DESCRIBE else set(Operation)
    return any(
        rule.principal == principal and rule.operation in implied and rule.matches(resource, name) for rule in rules
    )


def readers(topic: str, rules: Iterable[Acl]) -> list[str]:
    """The principals the ACLs let read `topic` (super users aside)."""
    rules = list(rules)
    return sorted(
        {rule.principal for rule in rules if allowed(rule.principal, Operation.READ, Resource.TOPIC, topic, rules)}
    )


class _CreateAcls(Request[CreateAclsRequest_v1]):
    """Every creation in one request, so the controller commits them together (aiokafka's CreateAclsRequest
    carries one ACL, and 39 requests cost the controller 39 commits: seconds)."""

    API_KEY = 30

    def __init__(self, rules: Iterable[Acl]) -> None:
        self._creations = [
            (rule.resource, rule.name, rule.pattern, f"User:{rule.principal}", "*", rule.operation, _ALLOW)
            for rule in rules
        ]

    def build(self, request_struct_class: type[CreateAclsRequest_v1]) -> CreateAclsRequest_v1:
        return request_struct_class(self._creations)


async def create_acls(client_options: dict[str, Any], rules: Iterable[Acl], timeout_s: float = 30.0) -> None:
    """Create `rules` on the cluster (an existing ACL is kept as is), as a principal allowed to alter it, and
    return once the broker enforces them all: the controller commits ACLs first, the broker's authorizer a
    moment later, and a client let in a moment too early would be refused.

    aiokafka's admin client has no create_acls; its protocol has the request and response, sent here.
    """
    wanted = sorted(set(rules))
    client = AIOKafkaClient(client_id=SETUP, **client_options)
    await client.bootstrap()
    try:
        node = client.get_random_node()
        answer = await client.send(node, _CreateAcls(wanted))
        for rule, (code, message) in zip(wanted, answer.creation_responses, strict=True):
            if code:
                raise for_code(code)(f"creating {rule}: {message}")
        deadline = time.monotonic() + timeout_s
        while not await _enforced(client, node, set(wanted)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the broker did not enforce the new ACLs within {timeout_s:.0f}s")
            await asyncio.sleep(0.05)
    finally:
        await client.close()


async def _enforced(client: AIOKafkaClient, node: int, wanted: set[Acl]) -> bool:
    """Whether the broker's authorizer has every wanted ACL (DescribeAcls answers from it)."""
    answer = await client.send(node, DescribeAclsRequest(_ANY, None, _ANY, None, None, _ANY, _ANY))
    if answer.error_code:
        raise for_code(answer.error_code)(answer.error_message)
    present = {
        Acl(principal.removeprefix("User:"), Operation(operation), Resource(kind), name, Pattern(pattern))
        for kind, name, pattern, entries in answer.resources
        for principal, _host, operation, permission in entries
        if permission == _ALLOW and kind in Resource._value2member_map_ and operation in Operation._value2member_map_
    }
    return wanted <= present
