"""Log lines of a service: plain for people, JSON for pipelines, each stamped with the service, the correlation
id and the trace id of the work in hand."""

import logging
import os

from pythonjsonlogger.json import JsonFormatter

from shared.runtime.consumer import correlation_id
from shared.runtime.tracing import current_trace_id


class _ServiceContext(logging.Filter):
    """Stamps every record with the service and the correlation id of the request being worked on."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.correlation_id = correlation_id.get()
        record.trace_id = current_trace_id()
        return True


def configure_logging(service: str) -> None:
    """Plain lines for people; JSON lines (CRI_LOG_FORMAT=json) for log pipelines."""
    handler = logging.StreamHandler()
    handler.addFilter(_ServiceContext(service))
    if os.environ.get("CRI_LOG_FORMAT") == "json":
        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(correlation_id)s %(trace_id)s")
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(service)s %(levelname)s %(name)s: %(message)s"))
    # CRI_LOG_LEVEL=DEBUG opens up the project's own loggers, not the chatty client libraries'.
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    for project_logger in ("shared", "services"):
        logging.getLogger(project_logger).setLevel(os.environ.get("CRI_LOG_LEVEL", "INFO"))
