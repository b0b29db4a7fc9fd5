"""Fetch an article from a URL with aiohttp, refusing anything that could harm the host."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from .errors import FetchError
from .models import Article
from .readers import ReadFailure, article_from_html, article_from_text, decode_bytes

log = logging.getLogger(__name__)

ALLOWED_CONTENT_TYPES = {"text/html": "html", "application/xhtml+xml": "html", "text/plain": "text"}
USER_AGENT = "Clippings/0.1 (+news quote bot)"


DEFAULT_MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class FetchSettings:
    max_bytes: int = DEFAULT_MAX_BYTES
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_redirects: int = 5
    allow_private: bool = False
    """Only for tests and local use: lets URLs reach loopback and private addresses."""


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _GuardedResolver(ThreadedResolver):
    """Resolves names, then refuses the lookup if any address is not public."""

    def __init__(self, allow_private: bool) -> None:
        super().__init__()
        self.allow_private = allow_private
        self.refused: str | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await super().resolve(host, port, family)
        if not self.allow_private:
            for result in results:
                if not is_public_address(result["host"]):
                    self.refused = host
                    raise OSError(f"{host} resolves to a private address")
        return results


def _check_url(url: URL, settings: FetchSettings) -> None:
    if url.scheme not in ("http", "https"):
        raise FetchError(f"{url} is not an http or https link; only web pages can be added.")
    if not url.host:
        raise FetchError(f"{url} has no host name; check the link.")
    try:
        literal = ipaddress.ip_address(url.host.strip("[]"))
    except ValueError:
        return
    if not settings.allow_private and not is_public_address(str(literal)):
        raise FetchError(f"{url.host} is a private or local address; only public web pages can be added.")


async def fetch_url(url: str, settings: FetchSettings | None = None) -> Article:
    """Fetch one page and read it as an article. Raises FetchError with one clear sentence."""
    settings = settings or FetchSettings()
    current = URL(url)
    _check_url(current, settings)
    resolver = _GuardedResolver(settings.allow_private)
    timeout = aiohttp.ClientTimeout(
        total=settings.connect_timeout + settings.read_timeout,
        sock_connect=settings.connect_timeout,
        sock_read=settings.read_timeout,
    )
    connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, limit=4)
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers={"User-Agent": USER_AGENT}
        ) as session:
            for _ in range(settings.max_redirects + 1):
                async with session.get(current, allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308):
                        location = response.headers.get("Location")
                        if not location:
                            raise FetchError(f"{current} redirects nowhere; try the final link.")
                        current = current.join(URL(location))
                        _check_url(current, settings)
                        continue
                    return await _read_response(response, str(current), settings)
            raise FetchError(f"{url} redirects more than {settings.max_redirects} times; try the final link.")
    except FetchError:
        raise
    except TimeoutError:
        raise FetchError(f"{current} took too long to answer; try again later.") from None
    except aiohttp.ClientConnectorError as exc:
        if resolver.refused:
            raise FetchError(
                f"{resolver.refused} points to a private or local address; only public web pages can be added."
            ) from None
        raise FetchError(
            f"{current.host} cannot be reached ({exc.strerror or exc}); check the link."
        ) from None
    except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
        raise FetchError(f"{current} could not be fetched ({type(exc).__name__}); check the link.") from None


async def _read_response(response: aiohttp.ClientResponse, url: str, settings: FetchSettings) -> Article:
    if response.status >= 400:
        raise FetchError(f"{url} answered HTTP {response.status}; check the link.")
    content_type = response.content_type.lower()
    kind = ALLOWED_CONTENT_TYPES.get(content_type)
    if kind is None:
        raise FetchError(f"{url} is {content_type or 'of unknown type'}, not a web page or plain text.")
    declared = response.content_length
    if declared is not None and declared > settings.max_bytes:
        raise FetchError(f"{url} is larger than {settings.max_bytes // 1024} KB; it was not downloaded.")
    body = bytearray()
    # Decompressed bytes are counted, so a gzip bomb stops at the cap too.
    async for chunk in response.content.iter_chunked(65536):
        body.extend(chunk)
        if len(body) > settings.max_bytes:
            raise FetchError(f"{url} is larger than {settings.max_bytes // 1024} KB; it was not downloaded.")
    data = bytes(body)
    charset = response.charset
    if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        try:
            text = data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            text = decode_bytes(data, url)
    else:
        text = decode_bytes(data, url)
    if kind == "html":
        return article_from_html(text, url, url=url)
    return article_from_text(text, url, url=url)


def fetch_url_sync(url: str, settings: FetchSettings | None = None) -> Article | ReadFailure:
    """Fetch from synchronous code (the CLI). Returns a ReadFailure instead of raising."""
    try:
        return asyncio.run(fetch_url(url, settings))
    except FetchError as exc:
        return ReadFailure(url, str(exc))
    except Exception as exc:  # a reader bug must not lose the rest of a batch
        log.exception("unexpected error reading %s", url)
        return ReadFailure(url, f"{url} could not be read ({type(exc).__name__}); try another link.")
