"""The email notify composes reads back, through the standard parser, as what was rendered."""

import email
import email.header
import email.policy
from uuid import uuid4

from services.notify.channels import DELIVERY_HEADER, compose_email
from services.notify.domain.rendering import RenderedMessage


def test_a_composed_email_reads_back_as_rendered() -> None:
    delivery = uuid4()
    rendered = RenderedMessage(
        subject="Request from Ciudad de Peñasco PD routed", text="Plain — text\n. a line with a dot\n", html="<p>é</p>"
    )
    raw = compose_email("CRI Exchange <no-reply@cri.example>", "chief@agency.example", delivery, rendered)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["To"] == "chief@agency.example"
    assert message["Subject"] == rendered.subject
    assert message["Message-ID"] == f"<{delivery}@cri-exchange>"
    assert message[DELIVERY_HEADER] == str(delivery)
    parts = {part.get_content_type(): part.get_content() for part in message.walk() if not part.is_multipart()}
    assert parts == {"text/plain": rendered.text, "text/html": rendered.html}
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


def test_an_ascii_subject_is_sent_as_is() -> None:
    rendered = RenderedMessage(subject="Request received", text="", html="")
    raw = compose_email("no-reply@cri.example", "a@b.example", uuid4(), rendered)
    assert b"\r\nSubject: Request received\r\n" in raw
