"""Sending outside the CRM: e-mail over SMTP and webhooks (WeCom / DingTalk group robots). Each raises SendError
with a reason an administrator can act on; the caller retries with backoff."""

from __future__ import annotations

import http.client
import ipaddress
import json
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

from crm.config import Settings
from crm.i18n import Msg


class SendError(Exception):
    """A delivery that did not go through; the message is for the admin's outbox page (English, technical)."""


# E-mail

class Mailer:
    """One SMTP connection for several messages (a delivery batch): opened at the first message, reused for the
    next ones, closed after an error (the next message connects again) and at the end. `down` is set when the server
    could not be reached at all, so the caller can stop trying it for this pass."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: smtplib.SMTP | None = None
        self.down: str | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()

    def _connect(self) -> smtplib.SMTP:
        settings, timeout = self.settings, self.settings.smtp_timeout_seconds
        try:
            if settings.smtp_security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                                        context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        except (OSError, smtplib.SMTPException) as error:
            self.down = self._reason(error)
            raise SendError(self.down) from error
        try:
            if settings.smtp_security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password)
        except BaseException:
            client.close()
            raise
        return client

    def _reason(self, error: BaseException) -> str:
        settings = self.settings
        return f"SMTP {settings.smtp_host}:{settings.smtp_port}: {type(error).__name__}: {error}"

    def send(self, *, to: str, subject: str, text: str, html: str, message_id: str) -> None:
        settings = self.settings
        if not settings.smtp_host:
            raise SendError("e-mail is not configured (CRM_SMTP_HOST is empty)")
        if self.down is not None:
            raise SendError(self.down)
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = settings.smtp_sender or settings.smtp_user
        message["To"] = to
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = message_id  # the same for every attempt: a mail client shows a repeat once
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        reused = self.client is not None
        try:
            if self.client is None:
                self.client = self._connect()
            try:
                self.client.send_message(message)
            except smtplib.SMTPServerDisconnected:
                if not reused:
                    raise
                self.client = None  # the server closed the idle connection: once more on a new one
                self.client = self._connect()
                self.client.send_message(message)
        except SendError:
            raise
        except (OSError, smtplib.SMTPException) as error:
            client, self.client = self.client, None
            if client is not None:
                client.close()
            raise SendError(self._reason(error)) from error


def send_email(settings: Settings, *, to: str, subject: str, text: str, html: str, message_id: str) -> None:
    """One message on its own connection."""
    with Mailer(settings) as mailer:
        mailer.send(to=to, subject=subject, text=text, html=html, message_id=message_id)


# Webhooks

NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _effective(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 one reaches when it embeds one (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible
    ::a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4, Teredo); otherwise the address itself."""
    if isinstance(address, ipaddress.IPv4Address):
        return address
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if any(address in net for net in NAT64) or int(address) >> 32 == 0:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return address


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    inner = _effective(address)
    return address.is_global and inner.is_global


def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in
                socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


PRIVATE = Msg("This webhook address points inside the network (a private, loopback or link-local address). An administrator must allow such addresses first.")


def check_webhook_url(url: str, *, allow_private: bool, resolve: bool = True) -> Msg | None:
    """Why `url` may not be used as a webhook (None: it may). Refuses other schemes than http(s), and addresses that
    are loopback, private, link-local or otherwise not public — also when written as IPv6 embedding such an IPv4
    address (NAT64 64:ff9b::, ::ffff:, 6to4) — unless the administrator allows them. Sending checks again, on
    the address it connects to (`send_webhook`)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        return Msg("This is not a web address.")
    if parts.scheme not in ("http", "https") or not host:
        return Msg("A webhook address must start with http:// or https://.")
    if parts.username or parts.password:
        return Msg("A webhook address must not contain a user name or password.")
    if allow_private:
        return None
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if not resolve:
            return None
        try:
            addresses = _resolve(host, parts.port or 443)
        except (OSError, UnicodeError, ValueError):
            return Msg("The webhook's host name could not be found.")
    if not addresses or not all(_allowed(address) for address in addresses):
        return PRIVATE
    return None


def _connect(addresses: list[str], port: int, timeout: float) -> socket.socket:
    """A connection to the first of the checked `addresses` that answers (never a new lookup)."""
    error: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as failure:
            error = failure
    raise error or OSError("no address to connect to")


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address resolved and checked once, whatever the name resolves to by now (DNS rebinding);
    the Host header still names the host."""

    def __init__(self, host: str, port: int | None, *, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self) -> None:
        self.sock = _connect(self.addresses, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int | None, *, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.addresses = addresses

    def connect(self) -> None:
        sock = _connect(self.addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # the certificate names the host


def send_webhook(settings: Settings, *, url: str, content: str) -> None:
    """A JSON POST in the text-message shape WeCom and DingTalk group robots take (`post`)."""
    body = json.dumps({"msgtype": "text", "text": {"content": content}}, ensure_ascii=False).encode()
    status, answer = post(settings, url=url, body=body, headers={"Content-Type": "application/json; charset=utf-8"})
    if not 200 <= status < 300:
        raise SendError(f"webhook answered HTTP {status}")
    try:  # the robots answer 200 with {"errcode": n, "errmsg": ...} when they refuse a message
        reply = json.loads(answer or b"{}")
    except ValueError:
        return
    if isinstance(reply, dict) and reply.get("errcode") not in (None, 0):
        raise SendError(f"webhook refused the message: errcode {reply.get('errcode')} {reply.get('errmsg', '')}"[:500])


def post(settings: Settings, *, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POSTs `body` to `url` and returns the HTTP status and the start of the answer; raises SendError when it was
    not sent (refused address, no such host, connection refused, timeout, TLS). The host name is resolved once,
    here; every address it resolves to must pass the check, and the connection goes to that address (a second
    lookup could answer differently). A redirect is never followed (it could lead anywhere). Used by the reminder
    webhooks and the event webhooks (crm/webhooks)."""
    refused = check_webhook_url(url, allow_private=settings.webhook_allow_private, resolve=False)
    if refused is not None:
        raise SendError(f"webhook refused: {refused.translate('en')}")
    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    try:
        addresses = _resolve(host, parts.port or (443 if https else 80))
    except (OSError, UnicodeError, ValueError) as error:
        raise SendError(f"webhook: the host name {host} could not be resolved: {error}") from error
    if not addresses:
        raise SendError(f"webhook: the host name {host} could not be resolved")
    if not settings.webhook_allow_private and not all(_allowed(a) for a in addresses):
        raise SendError(f"webhook refused: {host} resolves to {', '.join(map(str, addresses))}: "
                        + PRIVATE.translate("en"))
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = (_PinnedHTTPS if https else _PinnedHTTP)(host, parts.port, addresses=[str(a) for a in addresses],
                                                         timeout=settings.webhook_timeout_seconds)
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(65536)
    except (OSError, http.client.HTTPException) as error:  # refused, unreachable, timed out, TLS
        raise SendError(f"webhook: {type(error).__name__}: {error}") from error
    finally:
        connection.close()
