"""The embedded stack's mail, as a person would read it: the Maildir the SMTP sink writes (system/stack/mailsink.py)."""

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

SIGN_IN_LINK = re.compile(r"https?://\S+/sign-in/link\?token=[A-Za-z0-9_-]+")


def messages_to(maildir: Path, address: str) -> list[EmailMessage]:
    """Every message delivered to `address` (compared without regard to case), oldest first: the sink names
    its files by the nanosecond they arrived."""
    wanted = address.strip().lower()
    found = []
    for path in sorted((maildir / "new").glob("*"), key=lambda p: int(p.name.split(".", 1)[0])):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        recipients = [r.strip().lower() for r in str(message.get("X-RcptTo", "")).split(",")]
        if wanted in recipients:
            found.append(message)
    return found


def latest_sign_in_link(maildir: Path, address: str) -> str | None:
    """The sign-in link of the latest sign-in email to `address`, or None."""
    for message in reversed(messages_to(maildir, address)):
        body = message.get_body(preferencelist=("plain",))
        link = SIGN_IN_LINK.search(body.get_content()) if body is not None else None
        if link:
            return link.group(0)
    return None
