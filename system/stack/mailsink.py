"""A real SMTP server for the embedded stack: accepts every message and stores it in a Maildir folder.

Run as its own process: `python -m system.stack.mailsink --port 8025 --maildir .cri/mail`.

It stands in for the program's mail relay on the same machine as everything else, so it stays cheap: each
message is stored as received (no parsing) and not fsynced. aiosmtpd's stock Mailbox handler parsed every
message and fsynced it, and cost the benchmark as much CPU as notify itself.
"""

import argparse
import asyncio
import itertools
import os
import signal
import socket
import time
from pathlib import Path

import uvloop
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session


class MaildirSink:
    """aiosmtpd handler: writes each message to tmp/ and renames it into new/, the Maildir delivery protocol, so
    a reader never sees half a message."""

    def __init__(self, maildir: Path) -> None:
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)
        self._maildir = maildir
        self._unique = f"{os.getpid()}_{{}}.{socket.gethostname()}"
        self._counter = itertools.count()

    async def handle_DATA(self, _server: object, session: Session, envelope: Envelope) -> str:
        trace = (
            f"X-Peer: {session.peer}\nX-MailFrom: {envelope.mail_from}\nX-RcptTo: {', '.join(envelope.rcpt_tos)}\n"
        ).encode()
        content = envelope.original_content or b""
        name = f"{time.time_ns()}.{self._unique.format(next(self._counter))}"
        tmp = self._maildir / "tmp" / name
        tmp.write_bytes(trace + content.replace(b"\r\n", b"\n"))
        tmp.rename(self._maildir / "new" / name)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args()
    controller = Controller(MaildirSink(args.maildir), hostname=args.host, port=args.port, loop=uvloop.new_event_loop())
    controller.start()

    async def wait_for_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait_for_signal())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
