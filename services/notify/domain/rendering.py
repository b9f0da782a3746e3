"""In which words: a planned notification rendered to a subject, plain text and HTML from the templates of its
kind (`templates/<kind>.{subject.txt,txt,html}`). Templates ship with the code: each is read on first use and
kept, nothing is read at import."""

from datetime import datetime
from pathlib import Path

import jinja2
from pydantic import BaseModel, ConfigDict

from services.notify.domain.planning import PlannedNotification

TEMPLATE_DIR = Path(__file__).parents[1] / "templates"


class RenderedMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str
    text: str
    html: str


class RenderError(Exception):
    """A template could not be rendered; the reason says which and why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _day(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    return f"{moment:%B} {moment.day}, {moment.year}"


# Subjects and plain text are not HTML: only .html templates escape what they print.
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
    undefined=jinja2.StrictUndefined,
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,  # templates ship with the code: no stat() of the file at every render
)
_TEMPLATES.filters["day"] = _day


def render(notification: PlannedNotification) -> RenderedMessage:
    """Subject, plain text and HTML of one notification, from `templates/<kind>.{subject.txt,txt,html}`."""
    kind, context = notification.kind, notification.context
    try:
        # One line: agency-supplied text must not break the mail header (header injection).
        subject = " ".join(_TEMPLATES.get_template(f"{kind}.subject.txt").render(context).split())
        text = _TEMPLATES.get_template(f"{kind}.txt").render(context)
        html = _TEMPLATES.get_template(f"{kind}.html").render(context, subject=subject)
    except jinja2.TemplateNotFound as error:
        raise RenderError(f"{kind}: no template {error.name}") from error
    except Exception as error:  # a template is data: whatever breaks in it fails this one notification only
        raise RenderError(f"{kind}: {type(error).__name__}: {error}") from error
    return RenderedMessage(subject=subject, text=text, html=html)
