"""`cri signin-link`: the latest sign-in link to an address, read from a Maildir as the SMTP sink writes it."""

from email.message import EmailMessage
from pathlib import Path

from system.mail import latest_sign_in_link


def deliver(maildir: Path, arrived_ns: int, to: str, text: str) -> None:
    message = EmailMessage()
    message["Subject"] = "Your sign-in link"
    message.set_content(text)
    message.add_alternative(f"<p>{text}</p>", subtype="html")
    (maildir / "new").mkdir(parents=True, exist_ok=True)
    trace = f"X-Peer: 127.0.0.1\nX-MailFrom: cri@example.gov\nX-RcptTo: {to}\n".encode()
    (maildir / "new" / f"{arrived_ns}.1_0.host").write_bytes(trace + bytes(message))


def test_the_latest_link_to_the_address_is_found(tmp_path):
    first = "http://127.0.0.1:8000/sign-in/link?token=" + "a" * 43
    latest = "http://127.0.0.1:8000/sign-in/link?token=" + "b" * 43
    deliver(tmp_path, 100, "jlee@springfield.example.gov", f"Sign in: {first}")
    deliver(tmp_path, 300, "JLee@Springfield.example.gov", f"Sign in:\n{latest}\nIt works once.")
    deliver(tmp_path, 900, "someone@else.example", "Sign in: http://127.0.0.1:8000/sign-in/link?token=c")
    deliver(tmp_path, 1000, "jlee@springfield.example.gov", "Your request was received.")
    assert latest_sign_in_link(tmp_path, "jlee@springfield.example.gov") == latest
    assert latest_sign_in_link(tmp_path, "nobody@example.com") is None
