"""A real SMTP server for the embedded stack: accepts every message and stores it in a Maildir folder.

Run as its own process: `python -m shared.stack.mailsink --port 8025 --maildir .cri/mail`.
"""

import argparse
import asyncio
import mailbox
import signal
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", type=Path, required=True)
    args = parser.parse_args()
    args.maildir.parent.mkdir(parents=True, exist_ok=True)
    mailbox.Maildir(args.maildir, create=True)  # creates cur/ new/ tmp/ only when the folder is new
    controller = Controller(Mailbox(str(args.maildir)), hostname=args.host, port=args.port)
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
