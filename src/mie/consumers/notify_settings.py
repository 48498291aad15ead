"""What the notification component runs with, derived from the ``notifications`` and ``smtp`` sections of the
settings (``MIE_NOTIFY_*``, ``MIE_SMTP_*``; docs/configuration.md), the public URL and the outbound policy.

The values are checked when the settings are loaded (:func:`mie.config.load_settings`); this module resolves the
defaults that depend on other settings (the SMTP port and sender, the links' base URL).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from mie.config import Settings
from mie.operators.outbound import STRICT, OutboundPolicy


@dataclass(frozen=True)
class SmtpServer:
    """How to send e-mail: the ``smtp`` section with its defaults resolved."""

    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    ssl: bool = False
    timeout: float = 10.0


@dataclass(frozen=True)
class NotifySettings:
    """Every notification knob (see ``NotificationSettings`` and ``SmtpSettings`` in :mod:`mie.config`)."""

    attempts: int = 5
    backoff: float = 2.0
    backoff_max: float = 300.0
    timeout: float = 10.0
    workers: int = 2
    #: None when ``MIE_SMTP_HOST`` is unset: no e-mail.
    smtp: SmtpServer | None = None
    #: Base of the links in messages (``MIE_PUBLIC_URL``, else the address the server listens on).
    public_url: str = "http://127.0.0.1:8080"
    #: Where webhooks may point (``MIE_OUTBOUND_ALLOW``; loopback and private addresses are refused otherwise).
    outbound: OutboundPolicy = STRICT

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt: backoff, doubling, capped."""
        return float(min(self.backoff * 2.0 ** max(attempts - 1, 0), self.backoff_max))

    @classmethod
    def from_settings(cls, settings: Settings) -> NotifySettings:
        """The notification settings of ``settings`` (its ``notifications``, ``smtp`` and ``server`` sections)."""
        notify, mail, server = settings.notifications, settings.smtp, settings.server
        smtp = None
        host = mail.smtp_host.strip()
        if host:
            port = mail.smtp_port or (465 if mail.smtp_ssl else 25)
            sender = mail.smtp_from.strip() or f"mie@{socket.getfqdn() or 'localhost'}"
            smtp = SmtpServer(
                host,
                port,
                sender,
                mail.smtp_user or None,
                mail.smtp_password or None,
                mail.smtp_starttls,
                mail.smtp_ssl,
                notify.notify_timeout,
            )
        if server.public_url:
            public = server.public_url.rstrip("/")
        else:
            shown = server.host if server.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
            if ":" in shown and not shown.startswith("["):
                shown = f"[{shown}]"
            public = f"http://{shown}:{server.port}"
        return cls(
            attempts=notify.notify_attempts,
            backoff=notify.notify_backoff,
            backoff_max=notify.notify_backoff_max,
            timeout=notify.notify_timeout,
            workers=notify.notify_workers,
            smtp=smtp,
            public_url=public,
            outbound=OutboundPolicy.parse(settings.operators.outbound_allow),
        )
