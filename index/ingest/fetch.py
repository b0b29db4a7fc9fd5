"""Fetch an article from a URL with aiohttp, refusing anything that could harm the host.

What is refused (each with one sentence in a FetchError):

- any scheme but http and https, and links without a host;
- hosts that are, or resolve to, a non-public address: private, loopback, link-local, multicast,
  reserved, unspecified, shared (100.64/10), IPv6 site-local (fec0::/10) and documentation
  (2001:db8::/32, 3fff::/20) addresses, and IPv6 forms that embed such an IPv4 address
  (IPv4-mapped, IPv4-compatible, 6to4, NAT64). IP literals in any spelling that the system resolver
  accepts (``2130706433``, ``0177.0.0.1``, ``127.1``, ``0x7f.1``) are read as the address they name.
  The check runs on the first link and again on every redirect (at most 5), and for names it runs on
  the addresses that DNS returns, which are the addresses aiohttp then connects to;
- a server that does not connect in ``connect_timeout``, goes quiet for ``read_timeout``, or does not
  finish the whole fetch (redirects included) in ``total_timeout`` (a slow drip of bytes);
- a body over ``max_bytes`` (5 MB by default), counted after decompression, so a gzip bomb stops at
  the cap; a declared Content-Length over the cap is refused before reading;
- a content type other than HTML or plain text.

``allow_private`` and ``trusted_origins`` exist only for tests and local use. Neither is set by
default. ``allow_private`` (``CLIPPINGS_ALLOW_PRIVATE_URLS=1``) lifts the address check for every
host. ``trusted_origins`` lifts it for exactly the listed ``host:port`` origins and nothing else, so a
test server on 127.0.0.1 can be reached while a redirect from it to any other local address is still
refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from dataclasses import dataclass, field

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from ..errors import BadInput, FetchError
from ..models import Article
from .fields import hide_credentials, without_secrets
from .readers import (
    AS_TEXT_FILE,
    Markup,
    ReadFailure,
    article_from_html,
    article_from_text,
    decode_page,
    markup_for,
)

log = logging.getLogger(__name__)

ALLOWED_CONTENT_TYPES = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/plain": "text",
    "text/markdown": "markdown",  # a .md file as python -m http.server and static hosts serve it
    "text/x-markdown": "markdown",
}
USER_AGENT = "Clippings/0.1 (+news quote bot)"

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
"""The most redirects any fetch follows (the issue's bar); FetchSettings cannot raise it."""
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class FetchSettings:
    max_bytes: int = DEFAULT_MAX_BYTES
    """Largest body accepted, counted after decompression (CLIPPINGS_MAX_FETCH_BYTES)."""
    connect_timeout: float = 10.0
    """Seconds to open the connection."""
    read_timeout: float = 20.0
    """Longest silence, in seconds, while waiting for headers or body bytes."""
    total_timeout: float = 30.0
    """Seconds for the whole fetch, redirects and body included; stops a slow drip of bytes."""
    max_redirects: int = MAX_REDIRECTS
    allow_private: bool = False
    """Only for tests and local use: lets URLs reach loopback and private addresses."""
    trusted_origins: frozenset[str] = field(default_factory=frozenset)
    """Only for tests: exact "host:port" origins that may be reached although they are local.

    Nothing else is lifted: a redirect from a trusted origin to any other local address, or to the
    same host on another port, is refused as usual.
    """

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if not 0 <= self.max_redirects <= MAX_REDIRECTS:
            raise ValueError(f"max_redirects must be between 0 and {MAX_REDIRECTS}")
        if min(self.connect_timeout, self.read_timeout, self.total_timeout) <= 0:
            raise ValueError("timeouts must be positive")
        object.__setattr__(self, "trusted_origins", frozenset(_origin_key(o) for o in self.trusted_origins))

    def is_trusted(self, host: str, port: int | None) -> bool:
        return bool(self.trusted_origins) and f"{_bare_host(host)}:{port}" in self.trusted_origins


def _bare_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _origin_key(origin: str) -> str:
    url = URL(origin if "//" in origin else f"http://{origin}")
    if not url.host or url.port is None:
        raise ValueError(f"trusted origin {origin!r} must be host:port")
    return f"{_bare_host(url.host)}:{url.port}"


# -- addresses ---------------------------------------------------------------------------------

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV6_DOCUMENTATION = ipaddress.ip_network("3fff::/20")
"""RFC 9637's documentation prefix, which Python before 3.13 calls global."""


def _plainly_public(ip: IPAddress) -> bool:
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
        # Site-local (fec0::/10), deprecated but still routed inside some networks; Python calls it
        # neither private nor reserved.
        or (isinstance(ip, ipaddress.IPv6Address) and (ip.is_site_local or ip in _IPV6_DOCUMENTATION))
    )


def is_public_address(address: str | IPAddress) -> bool:
    """True only for an address on the public internet.

    IPv6 addresses that carry an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo) are judged
    by the IPv4 address too.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _plainly_public(ip.ipv4_mapped)
        if ip in _NAT64:
            return _plainly_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip in _IPV4_COMPATIBLE:
            return False  # ::a.b.c.d, deprecated; never a real web server
        embedded = [ip.sixtofour, *(ip.teredo or ())]
        if any(e is not None and not _plainly_public(e) for e in embedded):
            return False
    return _plainly_public(ip)


# A host made only of digits, dots and hex spellings is an IPv4 literal to the system resolver (and
# aiohttp connects to it without asking our resolver), however odd it looks: 2130706433, 0177.1, 0x7f.1.
_NUMERIC_HOST = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}$", re.IGNORECASE)


def literal_address(host: str) -> IPAddress | None:
    """The address an IP-literal host names, in any spelling inet_aton accepts; None for a name.

    Raises FetchError for a host that looks numeric but names no address (such as 999.1.1.1).
    """
    bare = _bare_host(host).split("%", 1)[0]
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    if _NUMERIC_HOST.match(bare):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            raise FetchError(f"{host} is not a valid address; check the link.") from None
    return None


class _GuardedResolver(ThreadedResolver):
    """Resolves names, then refuses the lookup if any address is not public.

    aiohttp connects to exactly the addresses returned here, so there is no window between the
    check and the connection (no DNS rebinding).
    """

    def __init__(self, settings: FetchSettings) -> None:
        super().__init__()
        self.settings = settings
        self.refused: str | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        if self.settings.allow_private or self.settings.is_trusted(host, port):
            return results
        for result in results:
            if not is_public_address(result["host"]):
                self.refused = host
                raise OSError(f"{host} resolves to a private address")
        return results


def _check_url(url: URL, settings: FetchSettings) -> None:
    if url.scheme not in ("http", "https"):
        raise FetchError(f"{public_url(url)} is not an http or https link; only web pages can be added.")
    if not url.host:
        raise FetchError(f"{hide_credentials(str(url))} has no host name; check the link.")
    literal = literal_address(url.host)
    if literal is None or settings.allow_private or settings.is_trusted(url.host, url.port):
        return
    if not is_public_address(literal):
        raise FetchError(f"{url.host} is a private or local address; only public web pages can be added.")


def _parse_url(url: str | URL, base: URL | None = None) -> URL:
    try:
        parsed = URL(url) if isinstance(url, str) else url
        joined = base.join(parsed) if base is not None else parsed
        _ = joined.host  # yarl decodes an international name lazily: a bad one (xn--) fails here
        return joined
    except (ValueError, TypeError, UnicodeError):
        raise FetchError(f"{hide_credentials(str(url))} is not a valid link; check it.") from None


async def fetch_url(url: str, settings: FetchSettings | None = None) -> Article:
    """Fetch one page and read it as an article. Raises FetchError with one clear sentence."""
    settings = settings or FetchSettings()
    try:
        kind, text, final_url = await _download(url, settings)
        # Parsing is CPU work; keep the event loop (the bot's heartbeat) free while it runs.
        if kind == "html":
            return await asyncio.to_thread(article_from_html, text, final_url, url=final_url)
        # A .md file is often served as text/plain (raw files on code hosts): its path says Markdown.
        markup: Markup = "markdown" if kind == "markdown" else markup_for(URL(final_url).path)
        return await asyncio.to_thread(article_from_text, text, final_url, markup, url=final_url)
    except FetchError:
        raise
    except BadInput as exc:
        raise FetchError(str(exc)) from None


def public_url(url: URL) -> str:
    """A link as it is stored and shown: without a user name, password or #fragment."""
    if not url.raw_host:  # no authority (data:, javascript:), so no user name either
        return str(url)
    return str(url.with_user(None).with_fragment(None))


async def _download(url: str, settings: FetchSettings) -> tuple[str, str, str]:
    """(kind, text, final url) of a page, following redirects with every check on every hop.

    The final url, and every message, names the link without its user name, password or fragment.
    """
    current = _parse_url(url)
    first = public_url(current)
    _check_url(current, settings)
    resolver = _GuardedResolver(settings)
    timeout = aiohttp.ClientTimeout(
        total=settings.total_timeout,
        sock_connect=settings.connect_timeout,
        sock_read=settings.read_timeout,
    )
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, limit=4)
    try:
        async with (
            asyncio.timeout(settings.total_timeout),
            aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                headers={"User-Agent": USER_AGENT},
                trust_env=False,  # never route through a proxy from the environment
            ) as session,
        ):
            for _ in range(settings.max_redirects + 1):
                async with session.get(current, allow_redirects=False) as response:
                    if response.status in REDIRECT_STATUSES:
                        location = response.headers.get("Location")
                        if not location:
                            raise FetchError(f"{public_url(current)} redirects nowhere; try the final link.")
                        current = _parse_url(location, base=current)
                        _check_url(current, settings)
                        continue
                    final = public_url(current)
                    kind, text = await _read_response(response, final, settings)
                    return kind, text, final
            raise FetchError(
                f"{first} redirects more than {settings.max_redirects} times; try the final link."
            )
    except FetchError:
        raise
    except TimeoutError:
        raise FetchError(f"{public_url(current)} took too long to answer; try again later.") from None
    except aiohttp.ClientConnectorError as exc:
        if resolver.refused:
            raise FetchError(
                f"{resolver.refused} points to a private or local address; only public web pages can be added."
            ) from None
        raise FetchError(
            f"{current.host} cannot be reached ({exc.strerror or exc}); check the link."
        ) from None
    except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
        raise FetchError(
            f"{public_url(current)} could not be fetched ({type(exc).__name__}); check the link."
        ) from None


def _too_large(url: str, settings: FetchSettings) -> FetchError:
    size = (
        f"{settings.max_bytes // 1024} KB"
        if settings.max_bytes < 2**20
        else f"{settings.max_bytes / 2**20:g} MB"
    )
    return FetchError(f"{url} is larger than {size}, so it was not downloaded; {AS_TEXT_FILE}.")


async def _read_response(
    response: aiohttp.ClientResponse, url: str, settings: FetchSettings
) -> tuple[str, str]:
    if response.status >= 400:
        raise FetchError(f"{url} answered HTTP {response.status}; check the link.")
    content_type = response.content_type.lower()
    kind = ALLOWED_CONTENT_TYPES.get(content_type)
    if kind is None:
        raise FetchError(
            f"{url} is {content_type or 'of unknown type'}, not a web page or plain text; {AS_TEXT_FILE}."
        )
    declared = response.content_length
    if declared is not None and declared > settings.max_bytes:
        raise _too_large(url, settings)
    body = bytearray()
    # aiohttp hands over decompressed bytes, a bounded piece at a time, so a gzip bomb stops at the cap.
    async for chunk in response.content.iter_chunked(65536):
        body.extend(chunk)
        if len(body) > settings.max_bytes:
            raise _too_large(url, settings)
    data = bytes(body)
    del body
    return kind, decode_page(data, url, response.charset, html=kind == "html")


def fetch_url_sync(url: str, settings: FetchSettings | None = None) -> Article | ReadFailure:
    """Fetch from synchronous code (the CLI). Returns a ReadFailure instead of raising."""
    try:
        return asyncio.run(fetch_url(url, settings))
    except FetchError as exc:
        return ReadFailure(_shown_link(url), str(exc))
    except Exception as exc:  # a reader bug must not lose the rest of a batch
        shown = _shown_link(url)
        log.exception("unexpected error reading %s", shown)
        return ReadFailure(shown, f"{shown} could not be read ({type(exc).__name__}); try another link.")


def _shown_link(url: str) -> str:
    """A link given as text, without its user name, password or fragment when it can be parsed."""
    try:
        return without_secrets(url)
    except ValueError:
        return hide_credentials(url)
