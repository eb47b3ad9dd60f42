"""Channels hand messages over in two phases, so a crash can only leave a message in doubt at one instant.

``stage`` does everything short of the point of no return; ``commit`` crosses it. For SMTP,
stage sends MAIL, RCPT, DATA and the whole message but not the final ``.``: a server
drops a message whose transaction ends without it (RFC 5321, 4.1.1.4), so a crash
before commit sends nothing. Commit sends the ``.`` and reads the reply. Only a crash
between that ``.`` and recording the reply leaves a message in doubt.

A webhook has no such point: its commit is the whole request, and it carries an
``Idempotency-Key`` header (the outbox key) so the receiver can drop a repeat.

Each channel has numbered slots (SMTP: one connection each) used by one thread at a time.
"""

from __future__ import annotations

import functools
import re
import smtplib
import socket
import ssl
from typing import Literal, Protocol

import httpx

from polku.nurture.message import Outgoing
from polku.nurture.settings import SmtpSettings

Outcome = Literal["permanent", "transient", "in_doubt"]


class DeliveryError(Exception):
    """A hand-over that did not succeed: permanent (give up), transient (retry later) or in doubt."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome: Outcome = outcome
        self.reason = reason


class Channel(Protocol):
    """What delivery needs from a channel."""

    name: str
    slots: int

    def stage(self, slot: int, msg: Outgoing) -> None:
        """Do everything short of the point of no return; raise DeliveryError if that fails."""

    def commit(self, slot: int, msg: Outgoing) -> None:
        """Cross the point of no return; raise DeliveryError (in_doubt if the outcome is unknown)."""

    def abort(self, slot: int) -> None:
        """Give up a staged message without handing it over."""

    def close(self) -> None:
        """Release connections."""


_LEADING_DOT = re.compile(rb"(?m)^\.")


def dot_stuff(data: bytes) -> bytes:
    """The DATA payload: CRLF line ends, leading dots doubled, ending in CRLF (without the final dot)."""
    data = re.sub(rb"\r?\n", b"\r\n", data)
    data = _LEADING_DOT.sub(b"..", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def _smtp_error(code: int, reply: bytes, what: str) -> DeliveryError:
    text = reply.decode("utf-8", "replace")
    return DeliveryError("permanent" if 500 <= code < 600 else "transient", f"{what}: {code} {text}")


@functools.cache
def _local_name() -> str:
    """This host's name for EHLO, looked up once (smtplib would ask DNS for every connection)."""
    return socket.getfqdn()


class SmtpChannel:
    """E-mail through an SMTP relay (STARTTLS, TLS or plain; optional login), one connection per slot."""

    name = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        if not settings.host:
            raise ValueError("no SMTP host: set POLKU_SMTP_HOST")
        self.settings = settings
        self.slots = settings.connections
        self._conns: dict[int, smtplib.SMTP] = {}

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        assert s.host is not None
        context = ssl.create_default_context()
        conn: smtplib.SMTP
        name = s.helo_name or _local_name()
        if s.security == "tls":
            conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context, local_hostname=name)
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout, local_hostname=name)
        # the final dot goes in a write of its own; without this, Nagle's algorithm holds it for
        # the peer's delayed ACK (about 40 ms a message)
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.ehlo()
        if s.security == "starttls":
            conn.starttls(context=context)
            conn.ehlo()
        if s.user:
            conn.login(s.user, s.password.get_secret_value() if s.password else "")
        return conn

    def _conn(self, slot: int) -> smtplib.SMTP:
        conn = self._conns.get(slot)
        if conn is None:
            conn = self._connect()
            self._conns[slot] = conn
        return conn

    def stage(self, slot: int, msg: Outgoing) -> None:
        """MAIL, RCPT, DATA and the message, without the final dot."""
        try:
            conn = self._conn(slot)
            code, reply = conn.mail(msg.sender)
            if code != 250:
                self._reset(slot)
                raise _smtp_error(code, reply, "sender refused")
            code, reply = conn.rcpt(msg.recipient)
            if code not in (250, 251):
                self._reset(slot)
                raise _smtp_error(code, reply, "recipient refused")
            code, reply = conn.docmd("DATA")
            if code != 354:
                self._reset(slot)
                raise _smtp_error(code, reply, "DATA refused")
            conn.send(dot_stuff(msg.data))
        except (smtplib.SMTPException, OSError) as exc:
            self.abort(slot)
            raise DeliveryError("transient", f"SMTP session failed before hand-over: {exc}") from exc

    def commit(self, slot: int, msg: Outgoing) -> None:
        """The final dot; the reply says whether the relay took the message."""
        conn = self._conns.get(slot)
        if conn is None:
            raise DeliveryError("transient", "the SMTP session was lost before hand-over")
        try:
            conn.send(b".\r\n")
            code, reply = conn.getreply()
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            self.abort(slot)
            raise DeliveryError("in_doubt", f"no reply to the end of the message: {exc}") from exc
        if code != 250:
            if code == -1:
                self.abort(slot)
                raise DeliveryError("in_doubt", "the relay closed the session after the end of the message")
            raise _smtp_error(code, reply, "message refused")

    def _reset(self, slot: int) -> None:
        conn = self._conns.get(slot)
        if conn is None:
            return
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self.abort(slot)

    def abort(self, slot: int) -> None:
        """Drop the connection: a transaction cut before its final dot is discarded by the relay."""
        conn = self._conns.pop(slot, None)
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        """Say QUIT on every connection."""
        for slot, conn in list(self._conns.items()):
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._conns.pop(slot, None)


class WebhookChannel:
    """JSON POSTs through httpx; a transport can be injected (tests use a mock transport)."""

    name = "webhook"

    def __init__(self, *, transport: httpx.BaseTransport | None = None, timeout: float = 10.0, slots: int = 4) -> None:
        self.slots = slots
        self._client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)

    def stage(self, slot: int, msg: Outgoing) -> None:
        """Nothing to prepare: the request is built already."""

    def commit(self, slot: int, msg: Outgoing) -> None:
        """POST; 2xx is delivered, 408/429/5xx retried, other 4xx refused, no answer in doubt."""
        try:
            response = self._client.post(msg.recipient, content=msg.data, headers=msg.headers)
        except httpx.ConnectError as exc:
            raise DeliveryError("transient", f"cannot connect: {exc}") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError("in_doubt", f"no answer: {exc}") from exc
        if 200 <= response.status_code < 300:
            return
        outcome: Outcome = "transient" if response.status_code in (408, 429) or response.status_code >= 500 else "permanent"
        raise DeliveryError(outcome, f"the webhook answered {response.status_code}: {response.text[:200]}")

    def abort(self, slot: int) -> None:
        """Nothing was sent."""

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()
