"""Where the engine may send HTTP requests of its own: webhook deliveries and HTTP operators.

A URL a client registers makes the server connect somewhere on its behalf. Without a policy an API client could
point it at the loopback interface (the server's own admin ports), at the cloud metadata service
(``169.254.169.254``) or at the private network behind it. So, unless ``MIE_OUTBOUND_ALLOW`` lists it, a target is
refused when it is (or resolves to) a loopback, link-local, unspecified, multicast, reserved or private address.

Two checks:

* at registration (:meth:`OutboundPolicy.check`): a literal address or a local-only name (``localhost``) that is
  not allowed is a 400 naming the setting. Host names are not resolved then (the name may not exist yet, and its
  address may change later anyway);
* at request time (:meth:`OutboundPolicy.pin`): the host name is resolved, every address it resolves to must be
  allowed, and the request is then sent to the checked address (the ``Host`` header and the TLS server name stay
  the host name), so a DNS answer that changes between the check and the connection (DNS rebinding) cannot
  redirect it.

``MIE_OUTBOUND_ALLOW`` is a comma-separated list of host names (matched exactly, case-insensitive; such a host is
trusted whatever it resolves to), IP addresses and CIDR networks (``127.0.0.1,10.0.0.0/8,hooks.internal``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from mie.errors import ConfigurationError, InvalidError

SETTING = "MIE_OUTBOUND_ALLOW"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``getaddrinfo``-like resolver: host, port -> the addresses (strings) it resolves to.
Resolver = Callable[[str, int], list[str]]

#: Names that mean this machine whatever DNS says.
_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


class OutboundRefusedError(Exception):
    """A request-time refusal: the target resolves to an address the policy does not allow (or does not resolve)."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _unmap(address: IPAddress) -> IPAddress:
    # ::ffff:127.0.0.1 reaches 127.0.0.1: judge the IPv4 address it carries.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _literal(host: str) -> IPAddress | None:
    """The address a host written as an IP literal means, including the forms resolvers accept besides dotted quads
    (``2130706433``, ``0x7f.1``, ``127.1`` are all 127.0.0.1), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host.lower()) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def why_disallowed(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is (``"loopback"``, ``"link-local"``...), or None if public."""
    address = _unmap(address)
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


@dataclass(frozen=True)
class Pinned:
    """A request to send to a checked address: the URL to connect to, and the headers/extensions that keep the
    original host name for the HTTP ``Host`` header and for TLS (SNI and certificate check)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundPolicy:
    """Which non-public targets are allowed anyway (``MIE_OUTBOUND_ALLOW``); everything public is allowed."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = system_resolver

    @classmethod
    def parse(cls, text: str, *, resolver: Resolver = system_resolver) -> OutboundPolicy:
        """The policy of a ``MIE_OUTBOUND_ALLOW`` value, or :class:`ConfigurationError` naming a bad entry."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in filter(None, (part.strip() for part in text.split(","))):
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if "/" in entry or ":" in entry or not all(c.isalnum() or c in "-._" for c in entry):
                raise ConfigurationError(f"{SETTING}: {entry!r} is not a host name, an IP address or a CIDR network")
            hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks), resolver)

    def allows_address(self, address: IPAddress) -> bool:
        """Whether a connection to ``address`` is allowed."""
        plain = _unmap(address)
        if why_disallowed(plain) is None:
            return True
        return any(plain.version == net.version and plain in net for net in self.networks)

    def _host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def check(self, url: str, what: str = "Url") -> None:
        """Registration-time check of ``url`` (a literal address or a local-only name): :class:`InvalidError`."""
        try:
            host = (urlsplit(url).hostname or "").lower().rstrip(".")
        except ValueError as exc:
            raise InvalidError(f"{what} {url!r} is not a valid URL: {exc}") from exc
        if not host or self._host_allowed(host):
            return
        if host in _LOCAL_NAMES or host.endswith(".localhost"):
            raise InvalidError(
                f"{what} {url!r} targets this machine ({host}); the server refuses loopback targets unless "
                f"{SETTING} allows them (e.g. {SETTING}={host})"
            )
        address = _literal(host)
        if address is None:
            return  # a host name: checked when it is resolved, at request time
        if not self.allows_address(address):
            raise InvalidError(
                f"{what} {url!r} targets a {why_disallowed(address)} address; the server refuses such targets "
                f"unless {SETTING} allows them (e.g. {SETTING}={_unmap(address)})"
            )

    def pin(self, url: str) -> Pinned:
        """Resolve ``url``'s host, check every address, and aim the request at the first one.

        Raises :class:`OutboundRefusedError` (naming the address and the setting) when an address is not allowed or
        the name does not resolve.
        """
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        except ValueError as exc:
            raise OutboundRefusedError(f"{url} is not a valid URL: {exc}") from exc
        if self._host_allowed(host):
            return Pinned(url)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            if not self.allows_address(literal):
                kind = why_disallowed(literal)
                raise OutboundRefusedError(f"{url} targets a {kind} address ({SETTING} does not allow it)")
            return Pinned(url)
        try:
            found = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolver(host, port)]
        except (OSError, UnicodeError, ValueError) as exc:
            raise OutboundRefusedError(f"{url}: cannot resolve {host!r} ({exc})") from exc
        if not found:
            raise OutboundRefusedError(f"{url}: {host!r} resolves to no address")
        for address in found:
            if not self.allows_address(address):
                raise OutboundRefusedError(
                    f"{url}: {host!r} resolves to {address}, a {why_disallowed(address)} address "
                    f"({SETTING} does not allow it)"
                )
        address = found[0]
        shown = f"[{address}]" if address.version == 6 else str(address)
        netloc = shown if parts.port is None else f"{shown}:{parts.port}"
        target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        host_header = parts.netloc.rpartition("@")[2]
        extensions = {"sni_hostname": host} if parts.scheme.lower() == "https" else {}
        return Pinned(target, {"Host": host_header}, extensions)


#: The default: nothing non-public allowed.
STRICT = OutboundPolicy()
