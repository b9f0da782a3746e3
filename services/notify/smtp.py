"""A few SMTP sessions kept open and reused: a new session per message would pay a TCP (and TLS) handshake,
EHLO and login every time."""

import asyncio
from contextlib import suppress

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

    async def send(self, message: bytes, sender: str, recipient: str) -> None:
        """Send a composed message on an idle session, (re)connecting it as needed; raises aiosmtplib's errors
        and OSError. An address that is not ASCII asks the server for SMTPUTF8 (a server without it refuses)."""
        options = [] if sender.isascii() and recipient.isascii() else ["SMTPUTF8"]
        session = await self._idle.get()
        try:
            if not session.is_connected:
                await session.connect()
            try:
                await session.sendmail(sender, [recipient], message, mail_options=options)
            except aiosmtplib.SMTPServerDisconnected:
                # The server closed an idle session: one fresh connection, then the error stands.
                await session.connect()
                await session.sendmail(sender, [recipient], message, mail_options=options)
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
