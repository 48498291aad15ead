"""The notification settings, read in one typed place from ``Settings.extra`` (``MIE_NOTIFY_*``, ``MIE_SMTP_*``).

``mie.config`` keeps unknown ``MIE_*`` environment variables in ``Settings.extra`` (lower-cased, without the
prefix); this module turns the ones notifications use into typed values and refuses bad ones at start-up.

=============================  ==========  ===============================================================
Variable                       Default     Meaning
=============================  ==========  ===============================================================
``MIE_NOTIFY_ATTEMPTS``        5           attempts per delivery (the first one included)
``MIE_NOTIFY_BACKOFF``         2           seconds before the first retry; doubles after each failure
``MIE_NOTIFY_BACKOFF_MAX``     300         longest wait between two attempts (seconds)
``MIE_NOTIFY_TIMEOUT``         10          seconds a webhook POST or an SMTP session may take
``MIE_NOTIFY_WORKERS``         2           threads sending deliveries
``MIE_SMTP_HOST``              (unset)     SMTP server; e-mail subscriptions are refused while unset
``MIE_SMTP_PORT``              25 (465)    its port (465 with ``MIE_SMTP_SSL``)
``MIE_SMTP_FROM``              mie@<host>  sender address
``MIE_SMTP_USER``              (unset)     log in with this user ...
``MIE_SMTP_PASSWORD``          (unset)     ... and password
``MIE_SMTP_STARTTLS``          false       upgrade the connection with STARTTLS
``MIE_SMTP_SSL``               false       connect with TLS from the start (SMTPS)
=============================  ==========  ===============================================================
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass

from mie.config import Settings
from mie.errors import ConfigurationError
from mie.operators.outbound import STRICT, OutboundPolicy

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _number(extra: Mapping[str, str], name: str, default: float, *, minimum: float, integer: bool = False) -> float:
    raw = extra.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError as exc:
        kind = "a whole number" if integer else "a number"
        raise ConfigurationError(f"MIE_{name.upper()}={raw!r} is not {kind}") from exc
    if value < minimum:
        raise ConfigurationError(f"MIE_{name.upper()} must be at least {minimum:g} (got {raw})")
    return value


def _flag(extra: Mapping[str, str], name: str) -> bool:
    raw = extra.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(f"MIE_{name.upper()}={raw!r} is not true or false")


@dataclass(frozen=True)
class SmtpSettings:
    """How to send e-mail (``MIE_SMTP_*``)."""

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
    """Every notification knob (see the module doc for the variables)."""

    attempts: int = 5
    backoff: float = 2.0
    backoff_max: float = 300.0
    timeout: float = 10.0
    workers: int = 2
    #: None when ``MIE_SMTP_HOST`` is unset: no e-mail.
    smtp: SmtpSettings | None = None
    #: Base of the links in messages (``MIE_PUBLIC_URL``, else the address the server listens on).
    public_url: str = "http://127.0.0.1:8080"
    #: Where webhooks may point (``MIE_OUTBOUND_ALLOW``; loopback and private addresses are refused otherwise).
    outbound: OutboundPolicy = STRICT

    def retry_delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failed attempt: backoff, doubling, capped."""
        return float(min(self.backoff * 2.0 ** max(attempts - 1, 0), self.backoff_max))

    @classmethod
    def from_settings(cls, settings: Settings) -> NotifySettings:
        """Read and check the ``MIE_NOTIFY_*`` and ``MIE_SMTP_*`` variables."""
        extra = settings.extra
        timeout = _number(extra, "notify_timeout", 10.0, minimum=0.1)
        smtp = None
        host = extra.get("smtp_host", "").strip()
        if host:
            ssl = _flag(extra, "smtp_ssl")
            starttls = _flag(extra, "smtp_starttls")
            if ssl and starttls:
                raise ConfigurationError("set MIE_SMTP_SSL or MIE_SMTP_STARTTLS, not both")
            port = int(_number(extra, "smtp_port", 465 if ssl else 25, minimum=1, integer=True))
            if port > 65535:
                raise ConfigurationError(f"MIE_SMTP_PORT={port} is not a TCP port")
            user = extra.get("smtp_user") or None
            password = extra.get("smtp_password") or None
            if (user is None) != (password is None):
                raise ConfigurationError("set both MIE_SMTP_USER and MIE_SMTP_PASSWORD, or neither")
            sender = extra.get("smtp_from", "").strip() or f"mie@{socket.getfqdn() or 'localhost'}"
            smtp = SmtpSettings(host, port, sender, user, password, starttls, ssl, timeout)
        if settings.public_url:
            public = settings.public_url.rstrip("/")
        else:
            shown = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
            if ":" in shown and not shown.startswith("["):
                shown = f"[{shown}]"
            public = f"http://{shown}:{settings.port}"
        return cls(
            attempts=int(_number(extra, "notify_attempts", 5, minimum=1, integer=True)),
            backoff=_number(extra, "notify_backoff", 2.0, minimum=0.0),
            backoff_max=_number(extra, "notify_backoff_max", 300.0, minimum=0.0),
            timeout=timeout,
            workers=int(_number(extra, "notify_workers", 2, minimum=1, integer=True)),
            smtp=smtp,
            public_url=public,
            outbound=OutboundPolicy.parse(settings.outbound_allow),
        )
