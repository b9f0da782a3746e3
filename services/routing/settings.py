from pathlib import Path

from pydantic import Field

from services.routing.datafiles import POLICY_FILE, PROVIDERS_FILE
from shared.runtime.settings import ServiceSettings


class RoutingSettings(ServiceSettings):
    policy_file: Path = Field(default=POLICY_FILE, description="The routing policy in force.")
    providers_file: Path = Field(default=PROVIDERS_FILE, description="Seed of the provider registry.")
