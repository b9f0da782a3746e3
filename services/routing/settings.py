from pathlib import Path

from pydantic import Field

from shared.runtime.settings import ServiceSettings

_DATA = Path(__file__).parent / "data"
POLICY_FILE = _DATA / "policy.yaml"
PROVIDERS_FILE = _DATA / "providers.yaml"


class RoutingSettings(ServiceSettings):
    policy_file: Path = Field(default=POLICY_FILE, description="The routing policy in force.")
    providers_file: Path = Field(default=PROVIDERS_FILE, description="Seed of the provider registry.")
    wait_sweep_interval_s: float = Field(
        default=600.0, gt=0, description="How often requests waiting beyond the policy's maximum are sent to staff."
    )
