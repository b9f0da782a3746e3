from pathlib import Path

from pydantic import Field, SecretStr

from shared.runtime.auth import DEV_SERVICE_KEY
from shared.runtime.settings import ServiceSettings

DEFAULT_DEADLINES = Path(__file__).parent / "data" / "deadlines.yaml"


class EngagementsSettings(ServiceSettings):
    deadlines_file: Path = Field(default=DEFAULT_DEADLINES, description="Days allowed per milestone, per tier.")
    deadline_day_seconds: float = Field(
        default=86400,
        gt=0,
        description="Seconds in a deadline day; tests shrink it to make deadlines fall due in seconds.",
    )
    deadline_scan_interval_s: float = Field(default=1.0, gt=0, description="Pause between scans for due deadlines.")
    deadline_scan_batch: int = Field(default=100, ge=1)
    dashboard_refresh_s: float = Field(default=1.0, gt=0, description="How often the dashboard stream looks.")
    routing_url: str | None = Field(
        default=None,
        description="Routing's address as a browser reaches it: the dashboard links each request waiting for a"
        " decision to its triage page there; no such links when unset.",
    )
    routing_api_url: str | None = Field(
        default=None,
        description="Routing's address as engagements reaches it, where the dashboard reads the provider registry"
        " (capacity and load); CRI_ROUTING_URL when unset; neither: the dashboard says capacity is unavailable.",
    )
    routing_api_key: SecretStr = Field(
        default=SecretStr(DEV_SERVICE_KEY),
        description="A service key of CRI_API_KEYS that engagements presents to routing to read the registry.",
    )
    routing_timeout_s: float = Field(default=2.0, gt=0, description="How long the dashboard waits for routing.")
    routing_cache_s: float = Field(default=5.0, ge=0, description="How long a registry read from routing is kept.")
