from pathlib import Path

from pydantic import Field

from shared.runtime.settings import ServiceSettings

_DATA = Path(__file__).parent / "data"


class RoutingSettings(ServiceSettings):
    policy_file: Path = Field(default=_DATA / "policy.yaml", description="The routing policy in force.")
    providers_file: Path = Field(default=_DATA / "providers.yaml", description="Seed of the provider registry.")
