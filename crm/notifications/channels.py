"""Sending outside the CRM: e-mail over SMTP and webhooks (WeCom / DingTalk group robots). Each raises SendError
with a reason an administrator can act on; the caller retries with backoff."""

from __future__ import annotations

import ipaddress
import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

from crm.config import Settings
from crm.i18n import Msg


class SendError(Exception):
    """A delivery that did not go through; the message is for the admin's outbox page (English, technical)."""


# E-mail

def send_email(settings: Settings, *, to: str, subject: str, text: str, html: str, message_id: str) -> None:
    if not settings.smtp_host:
        raise SendError("e-mail is not configured (CRM_SMTP_HOST is empty)")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.smtp_sender or settings.smtp_user
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id  # the same for every attempt: a mail client shows a repeat once
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    timeout = settings.smtp_timeout_seconds
    try:
        if settings.smtp_security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with client:
            if settings.smtp_security == "starttls":
                client.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                client.login(settings.smtp_user, settings.smtp_password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise SendError(f"SMTP {settings.smtp_host}:{settings.smtp_port}: {type(error).__name__}: {error}") from error


# Webhooks

def check_webhook_url(url: str, *, allow_private: bool, resolve: bool = True) -> Msg | None:
    """Why `url` may not be used as a webhook (None: it may). Refuses other schemes than http(s), and addresses that
    are loopback, private, link-local or otherwise not public unless the administrator allows them."""
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
            addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in
                         socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)]
        except (OSError, UnicodeError):
            return Msg("The webhook's host name could not be found.")
    if any(not address.is_global for address in addresses):
        return Msg("This webhook address points inside the network (a private, loopback or link-local address). An administrator must allow such addresses first.")
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead to an address the check above refused: never follow one."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def send_webhook(settings: Settings, *, url: str, content: str) -> None:
    """A JSON POST in the text-message shape WeCom and DingTalk group robots take."""
    refused = check_webhook_url(url, allow_private=settings.webhook_allow_private)
    if refused is not None:
        raise SendError(f"webhook refused: {refused.translate('en')}")
    body = json.dumps({"msgtype": "text", "text": {"content": content}}, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310 (http/https checked above)
                                     headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with _OPENER.open(request, timeout=settings.webhook_timeout_seconds) as response:
            answer = response.read(65536)
    except urllib.error.HTTPError as error:
        raise SendError(f"webhook answered HTTP {error.code}") from error
    except (OSError, ValueError) as error:  # refused, unreachable, timed out
        raise SendError(f"webhook: {type(error).__name__}: {error}") from error
    try:  # the robots answer 200 with {"errcode": n, "errmsg": ...} when they refuse a message
        reply = json.loads(answer or b"{}")
    except ValueError:
        return
    if isinstance(reply, dict) and reply.get("errcode") not in (None, 0):
        raise SendError(f"webhook refused the message: errcode {reply.get('errcode')} {reply.get('errmsg', '')}"[:500])
