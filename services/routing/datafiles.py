"""Routing's data files, maintained by people: the policy and the provider registry. Read once at start (the
service, the what-if command); an unusable file is refused with the file, line and key of each problem."""

from pathlib import Path

from services.routing.domain.policy import Policy
from services.routing.domain.providers import ProviderRecord, Registry
from shared.runtime.datafiles import DataFileError, load_model

_DATA = Path(__file__).parent / "data"
POLICY_FILE = _DATA / "policy.yaml"
PROVIDERS_FILE = _DATA / "providers.yaml"


class PolicyError(DataFileError):
    """A policy or provider file cannot be used; the message names the file, the location and the problem."""


def load_policy(path: Path) -> Policy:
    return load_model(path, Policy, PolicyError)


def load_providers(path: Path) -> list[ProviderRecord]:
    return load_model(path, Registry, PolicyError).providers
