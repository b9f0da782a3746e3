"""The waiting queue: a request no provider of its tier has room for waits, urgent first, then by time queued."""

from shared.contract.requests import RequestForAssistance
from shared.contract.vocabulary import Urgency


def queue_priority(request: RequestForAssistance) -> int:
    """Position class in the waiting queue: sort ascending (urgent first), then by time queued."""
    return {Urgency.URGENT: 0, Urgency.PRIORITY: 1, Urgency.ROUTINE: 2}[request.urgency]
