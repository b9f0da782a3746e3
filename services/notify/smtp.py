"""A few SMTP sessions kept open and reused: a new session per message would pay a TCP (and TLS) handshake,
EHLO and login every time."""

import asyncio
from contextlib import suppress
from email.message import Message

import aiosmtplib

from services.notify.settings import NotifySettings


class SmtpSessions:
    def __init__(self, settings: NotifySettings) -> None:
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        for _ in range(settings.smtp_sessions):
            self._idle.put_nowait(
                aiosmtplib.SMTP(
                    hostname=settings.smtp_host,
                    port=settings.smtp_port,
                    use_tls=settings.smtp_use_tls,
                    start_tls=settings.smtp_start_tls,
                    username=settings.smtp_username,
                    password=settings.smtp_password,
                    timeout=settings.smtp_timeout_s,
                )
            )

    async def send(self, message: Message, sender: str, recipient: str) -> None:
        """Send on an idle session, (re)connecting it as needed; raises aiosmtplib's errors and OSError.
        The envelope's addresses are given, so aiosmtplib does not parse them out of the headers again."""
        session = await self._idle.get()
        try:
            if not session.is_connected:
                await session.connect()
            try:
                await session.send_message(message, sender=sender, recipients=[recipient])
            except aiosmtplib.SMTPServerDisconnected:
                # The server closed an idle session: one fresh connection, then the error stands.
                await session.connect()
                await session.send_message(message, sender=sender, recipients=[recipient])
        except BaseException:
            # A session that failed mid-conversation is not trusted again: the next use reconnects.
            session.close()
            raise
        finally:
            self._idle.put_nowait(session)

    async def close(self) -> None:
        while not self._idle.empty():
            session = self._idle.get_nowait()
            if session.is_connected:
                with suppress(aiosmtplib.SMTPException, OSError):
                    await session.quit()
