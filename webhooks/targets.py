"""Where webhooks may go: public addresses only, unless TELEMETRY_WEBHOOK_ALLOW_PRIVATE is set.

A webhook URL is a request the server makes on someone's behalf. Pointed at loopback, a private
network, link-local space or a cloud metadata service (169.254.169.254), it would reach what the
internet cannot. The URL is checked when the endpoint is created and again at every connection,
after DNS: the sender connects to the very address it checked, so a name that resolves to a public
address at creation and to a private one later (DNS rebinding) is refused too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from telemetry.errors import InvalidRequestError


def address_problem(address: str) -> str | None:
    """Why a connection to this IP address is refused, or None for a public one."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_private or ip.is_reserved or ip.is_multicast or ip.is_unspecified or not ip.is_global:
        return "a private or reserved address"
    return None


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _first_problem(host: str, addresses: Iterable[str]) -> str | None:
    for address in addresses:
        problem = address_problem(address)
        if problem:
            shown = host if host == address else f"{host} ({address})"
            return f"{shown} is {problem}; set TELEMETRY_WEBHOOK_ALLOW_PRIVATE=true to allow it"
    return None


async def check_url(url: str, *, allow_private: bool) -> None:
    """At subscription time: an http(s) URL whose host resolves to public addresses only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError(f"url: {url!r} is not an http(s) URL")
    if allow_private:
        return
    try:
        addresses = await resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError:
        raise InvalidRequestError(f"url: {parts.hostname} does not resolve") from None
    problem = _first_problem(parts.hostname, addresses)
    if problem:
        raise InvalidRequestError(f"url: {problem}")


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses private addresses, connects to the address it checked.
    TLS still verifies the certificate against the host name (httpcore passes it for SNI)."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        problem = _first_problem(host, addresses)
        if problem:
            raise httpcore.ConnectError(f"refused: {problem}")
        return await self._inner.connect_tcp(addresses[0], port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are not sent to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def client(*, timeout_s: float, allow_private: bool, headers: dict[str, str]) -> httpx.AsyncClient:
    """The sender's HTTP client: with the check at every connection unless private targets are
    allowed. Proxies from the environment are ignored, since a proxy would resolve for us."""
    if allow_private:
        return httpx.AsyncClient(timeout=timeout_s, headers=headers)
    transport = httpx.AsyncHTTPTransport()
    transport._pool = httpcore.AsyncConnectionPool(  # httpx builds its pool without a backend option
        ssl_context=httpx.create_ssl_context(), network_backend=_CheckedBackend()
    )
    return httpx.AsyncClient(timeout=timeout_s, headers=headers, transport=transport, trust_env=False)
