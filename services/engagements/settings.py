from pathlib import Path

from pydantic import Field

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
