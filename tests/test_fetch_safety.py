"""Fetching URLs safely (issue 6, point 1), every case against a real HTTP server on 127.0.0.1.

The servers live on loopback, which the default settings refuse. `trusted_origins` lets exactly the
test server's host:port through, and nothing else, so these tests still prove that a redirect from it
to any other local address is refused with the default protection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tracemalloc
import zlib

import pytest
from aiohttp import web
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

from index.errors import FetchError
from index.ingest.fetch import (
    DEFAULT_MAX_BYTES,
    FetchSettings,
    fetch_url,
    fetch_url_sync,
    is_public_address,
    literal_address,
)
from index.ingest.readers import ReadFailure

ARTICLE = (
    "<html><head><title>Dam opens</title></head><body><article><h1>Dam opens</h1><p>"
    + "The new dam opened on Tuesday after ten years of building. " * 4
    + "</p></article></body></html>"
)
BOMB_BYTES = 100 * 1024 * 1024

CAFE_TEXT = "The café on Main Street closed on Friday after “forty years” of business, its owner said."
TOKYO_TEXT = "東京の図書館は金曜日に新しい予算を承認したと市長が述べた。"


def page(title: str, text: str, head: str = "") -> str:
    return (
        f"<html><head>{head}<title>{title}</title></head><body><article><p>{text}</p></article></body></html>"
    )


PAGES: dict[str, tuple[bytes, str]] = {
    "/meta-1252": (
        page("Café closes", CAFE_TEXT, '<meta charset="windows-1252">').encode("cp1252"),
        "text/html",
    ),
    "/meta-shift-jis": (
        page("図書館の予算", TOKYO_TEXT, '<meta charset="Shift_JIS">').encode("shift_jis"),
        "text/html",
    ),
    "/http-equiv-latin-1": (
        page(
            "Café closes",
            CAFE_TEXT,
            '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">',
        ).encode("cp1252"),
        "text/html",
    ),
    "/bom-over-header": (
        b"\xef\xbb\xbf" + page("Café closes", CAFE_TEXT).encode(),
        "text/html; charset=iso-8859-1",
    ),
    "/header-over-meta": (
        page("Café closes", CAFE_TEXT, '<meta charset="utf-8">').encode("cp1252"),
        "text/html; charset=windows-1252",
    ),
    "/undeclared-1252": (page("Café closes", CAFE_TEXT).encode("cp1252"), "text/html"),
    "/no-encoding": (bytes(range(1, 256)) * 8, "text/plain"),
    "/app-shell": (
        b"<html><head><title>Daily Bugle</title></head><body><div id=root></div>"
        b"<script src=/app.js></script>"
        b"<noscript>You need to enable JavaScript to run this app.</noscript></body></html>",
        "text/html",
    ),
}


def _gzip_bomb() -> bytes:
    """100 MB of zeros, gzip-compressed (about 100 KB), built without holding 100 MB."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    parts = [compressor.compress(block) for _ in range(BOMB_BYTES // len(block))]
    parts.append(compressor.flush())
    return b"".join(parts)


class Server:
    """An aiohttp.web app on 127.0.0.1 that counts the requests it answers, path by path."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.sent = 0
        self.app = web.Application()
        self.app.router.add_route("GET", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(self.app)
        self.origin = ""
        self.bomb = b""
        self.stopping = asyncio.Event()

    async def hang(self) -> None:
        """Stay quiet until the server closes (at most 30 seconds)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), 30)

    async def start(self) -> Server:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.origin = f"http://127.0.0.1:{port}"
        return self

    @property
    def host_port(self) -> str:
        return self.origin.removeprefix("http://")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits.append(path)
        if path in PAGES:
            body, content_type = PAGES[path]
            return web.Response(body=body, headers={"Content-Type": content_type})
        if path == "/story":
            return web.Response(text=ARTICLE, content_type="text/html")
        if path == "/plain":
            return web.Response(text="The harbour reopened on Friday after the storm passed.")
        if path in ("/story.md", "/raw/story.md"):
            body = (
                "# Harbour reopens\n\nThe harbour reopened on **Friday** after the [storm](/storm) passed.\n"
            )
            # Code hosts serve a raw .md file as text/plain; python -m http.server as text/markdown.
            content_type = "text/plain" if path.startswith("/raw/") else "text/markdown"
            return web.Response(text=body, content_type=content_type)
        if path == "/gzip-story":
            body = zlib.compress(ARTICLE.encode(), wbits=31)
            return web.Response(body=body, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"})
        if path == "/redirect":
            raise web.HTTPFound(request.query["to"])
        if path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            raise web.HTTPFound(f"/chain/{left - 1}" if left > 0 else "/story")
        if path == "/nowhere":
            return web.Response(status=302)
        if path == "/endless":
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            chunk = b"All work and no play makes a very long article. " * 1300
            while True:  # until the client goes away
                await response.write(chunk)
                self.sent += len(chunk)
        if path == "/liar":
            response = web.StreamResponse(
                headers={"Content-Type": "text/html", "Content-Length": str(10 * 2**30)}
            )
            await response.prepare(request)
            await response.write(b"<html>")
            await self.hang()
            return response
        if path == "/bomb":
            return web.Response(
                body=self.bomb, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}
            )
        if path == "/drip":
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            await response.prepare(request)
            while True:  # slowloris: one byte at a time, never quiet long enough for a read timeout
                await response.write(b"a")
                await asyncio.sleep(0.05)
        if path == "/silent":
            await self.hang()
        if path == "/pdf":
            return web.Response(body=b"%PDF-1.4 " * 50, content_type="application/pdf")
        if path == "/octet":
            return web.Response(body=b"\x00\x01" * 50, headers={"Content-Type": "application/octet-stream"})
        if path == "/png":
            return web.Response(body=b"\x89PNG\r\n\x1a\n" + bytes(100), content_type="image/png")
        if path == "/binary-as-html":
            return web.Response(body=b"\x7fELF\x02\x01" + bytes(300), content_type="text/html")
        if path == "/bad-request":  # an error page that reads like an article
            page = (
                "<html><head><title>Bad request</title></head><body><p>" + "Your request was malformed. " * 40
            )
            return web.Response(status=400, text=page + "</p></body></html>", content_type="text/html")
        return web.Response(status=404)

    async def close(self) -> None:
        self.stopping.set()
        await self.runner.cleanup()


@pytest.fixture
async def site():
    server = await Server().start()
    yield server
    await server.close()


@pytest.fixture
async def secret():
    """A second local server, standing for an internal service no link may reach."""
    server = await Server().start()
    yield server
    await server.close()


def trusting(site: Server, **overrides) -> FetchSettings:
    return FetchSettings(trusted_origins=frozenset({site.host_port}), **overrides)


async def refused(url: str, settings: FetchSettings | None = None) -> str:
    with pytest.raises(FetchError) as caught:
        # The guard turns a missing protection into a failure (TimeoutError) instead of a hang.
        await asyncio.wait_for(fetch_url(url, settings), 45)
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".")
    return message


# -- the defaults are strict -------------------------------------------------------------------


def test_defaults_are_strict():
    settings = FetchSettings()
    assert (settings.allow_private, settings.trusted_origins, settings.max_redirects) == (
        False,
        frozenset(),
        5,
    )
    assert settings.max_bytes == DEFAULT_MAX_BYTES == 5 * 1024 * 1024
    assert settings.connect_timeout <= 10 and settings.read_timeout <= 20 and settings.total_timeout <= 30


def test_more_than_five_redirects_cannot_be_configured():
    with pytest.raises(ValueError):
        FetchSettings(max_redirects=6)


async def test_trusted_origin_reaches_the_test_server(site):
    article = await fetch_url(f"{site.origin}/story", trusting(site))
    assert article.title == "Dam opens"
    assert article.url == f"{site.origin}/story"


async def test_trusted_origin_by_name_passes_the_resolver_check(site):
    port = site.origin.rsplit(":", 1)[1]
    url = f"http://localhost:{port}/story"
    article = await fetch_url(url, FetchSettings(trusted_origins=frozenset({f"localhost:{port}"})))
    assert (article.title, article.url) == ("Dam opens", url)


async def test_a_links_user_name_and_password_are_neither_stored_nor_in_the_site(site):
    article = await fetch_url(f"http://editor:hunter2@{site.host_port}/story", trusting(site))
    assert (article.url, article.site) == (f"{site.origin}/story", site.host_port)


async def test_a_links_fragment_is_not_stored(site):
    article = await fetch_url(f"{site.origin}/story#comments", trusting(site))
    assert article.url == f"{site.origin}/story"


async def test_a_refusal_does_not_show_the_links_password(site):
    message = await refused(f"http://editor:hunter2@{site.host_port}/pdf", trusting(site))
    assert (
        message
        == f"{site.origin}/pdf is application/pdf, not a web page or plain text; save the article's text as a .txt file and add that instead."
    )


async def test_an_invalid_link_with_a_password_is_named_without_it():
    message = await refused("https://editor:hunter2@xn--zz.com/")
    assert message == "https://xn--zz.com/ is not a valid link; check it."


def test_what_is_not_an_address_is_not_public():
    assert [is_public_address(a) for a in ("not-an-address", "", "8.8.8.8")] == [False, False, True]


async def test_test_server_is_refused_without_trust(site):
    message = await refused(f"{site.origin}/story")
    assert message == "127.0.0.1 is a private or local address; only public web pages can be added."
    assert site.hits == []


async def test_trust_is_for_exactly_one_origin(site, secret):
    message = await refused(f"{secret.origin}/secret", trusting(site))
    assert "private or local address" in message
    assert secret.hits == []


# -- schemes -------------------------------------------------------------------------------------


NOT_WEB = "is not an http or https link; only web pages can be added."


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", f"file:///etc/passwd {NOT_WEB}"),
        ("ftp://example.com/file.txt", f"ftp://example.com/file.txt {NOT_WEB}"),
        ("gopher://example.com/", f"gopher://example.com/ {NOT_WEB}"),
        ("javascript:alert(1)", f"javascript:alert(1) {NOT_WEB}"),
        ("data:text/html,<p>hello</p>", f"data:text/html,%3Cp%3Ehello%3C/p%3E {NOT_WEB}"),
        ("http:///no-host", "http:///no-host has no host name; check the link."),
        ("http://[::1", "http://[::1 is not a valid link; check it."),
    ],
)
async def test_only_http_and_https_links_are_fetched(url, reason):
    assert await refused(url, FetchSettings(allow_private=True)) == reason


async def test_a_malformed_international_host_name_is_refused_as_an_invalid_link():
    message = await refused("http://xn--.example/")
    assert message == "http://xn--.example/ is not a valid link; check it."


async def test_a_redirect_to_a_malformed_international_host_name_is_refused_as_an_invalid_link(site):
    message = await refused(f"{site.origin}/redirect?to=http://xn--.example/", trusting(site))
    assert message == "http://xn--.example/ is not a valid link; check it."


# -- addresses, literal and resolved ----------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "2130706433",  # decimal 127.0.0.1
        "017700000001",  # octal
        "0177.0.0.1",
        "0x7f.1",
        "0x7f000001",
        "127.0.0.1.",
        "10.0.0.1",
        "192.168.1.1",
        "172.16.0.1",
        "100.64.0.1",
        "169.254.169.254",
        "2852039166",  # decimal 169.254.169.254
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "[::1]",
        "[::]",
        "[::ffff:127.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[::127.0.0.1]",
        "[64:ff9b::127.0.0.1]",
        "[2002:7f00:1::]",
        "[fe80::1]",
        "[fc00::1]",
        "[ff02::1]",
        "[fec0::1]",
        "[3fff::1]",
    ],
)
async def test_non_public_ip_literals_are_refused_before_connecting(host):
    message = await refused(f"http://{host}:8080/latest/meta-data/")
    assert "is a private or local address" in message


async def test_an_ipv6_site_local_address_is_refused_before_connecting(monkeypatch):
    tried: list[object] = []
    connect = socket.socket.connect

    def record(sock: socket.socket, address: object) -> None:  # notes each attempt, then makes it
        tried.append(address)
        connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", record)
    message = await refused("http://[fec0::1]/", FetchSettings(connect_timeout=5, total_timeout=10))
    assert message == "fec0::1 is a private or local address; only public web pages can be added."
    assert tried == []


@pytest.mark.parametrize("address", ["fec0::1", "feff::1", "3fff::1"])
def test_ipv6_site_local_and_documentation_addresses_are_not_public(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_public(address):
    assert is_public_address(address)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.1", "127.0.0.1"),
        ("0x08.0x08.0x08.0x08", "8.8.8.8"),
        ("example.com", None),
    ],
)
def test_odd_spellings_of_addresses_are_read_as_the_address(host, address):
    found = literal_address(host)
    assert (str(found) if found else None) == address


async def test_numeric_host_that_is_no_address_is_refused():
    assert await refused("http://999.1.1.1/") == "999.1.1.1 is not a valid address; check the link."


async def test_name_that_resolves_to_loopback_is_refused(site):
    port = site.host_port.rsplit(":", 1)[1]
    message = await refused(f"http://localhost:{port}/story")
    assert message == "localhost points to a private or local address; only public web pages can be added."
    assert site.hits == []


async def test_name_with_one_private_address_among_public_ones_is_refused(monkeypatch):
    async def fake_resolve(self, host, port=0, family=0):
        return [
            ResolveResult(hostname=host, host=a, port=port, family=2, proto=0, flags=0)
            for a in ("93.184.216.34", "10.0.0.7")
        ]

    monkeypatch.setattr(ThreadedResolver, "resolve", fake_resolve)
    message = await refused("http://news.example.test/story")
    assert message.startswith("news.example.test points to a private or local address")


# -- redirects: every hop is checked again ---------------------------------------------------------


async def test_redirect_to_another_local_service_is_refused(site, secret):
    message = await refused(f"{site.origin}/redirect?to={secret.origin}/admin", trusting(site))
    assert message == "127.0.0.1 is a private or local address; only public web pages can be added."
    assert site.hits == ["/redirect"] and secret.hits == []


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://2852039166/latest/meta-data/",
        "http://[::1]/",
        "http://10.0.0.1/",
    ],
)
async def test_redirect_to_metadata_or_private_address_is_refused(site, target):
    message = await refused(f"{site.origin}/redirect?to={target}", trusting(site))
    assert "is a private or local address" in message


async def test_redirect_to_a_name_for_loopback_is_refused_after_resolving(site, secret):
    port = secret.host_port.rsplit(":", 1)[1]
    message = await refused(f"{site.origin}/redirect?to=http://localhost:{port}/admin", trusting(site))
    assert message.startswith("localhost points to a private or local address")
    assert secret.hits == []


async def test_redirect_to_another_scheme_is_refused(site):
    message = await refused(f"{site.origin}/redirect?to=file:///etc/passwd", trusting(site))
    assert message == "file:///etc/passwd is not an http or https link; only web pages can be added."


async def test_five_redirects_are_followed(site):
    article = await fetch_url(f"{site.origin}/chain/4", trusting(site))  # 5 redirects in all
    assert article.title == "Dam opens"
    assert article.url == f"{site.origin}/story"


async def test_a_sixth_redirect_is_refused(site):
    message = await refused(f"{site.origin}/chain/5", trusting(site))
    assert message.endswith("redirects more than 5 times; try the final link.")
    assert len(site.hits) == 6


async def test_redirect_without_location_is_refused(site):
    assert "redirects nowhere" in await refused(f"{site.origin}/nowhere", trusting(site))


# -- bodies: size, compression, type --------------------------------------------------------------------


async def test_endless_body_stops_at_the_cap(site):
    message = await refused(f"{site.origin}/endless", trusting(site))
    assert (
        message
        == f"{site.origin}/endless is larger than 5 MB, so it was not downloaded; save the article's text as a .txt file and add that instead."
    )


async def test_cap_is_a_setting(site):
    message = await refused(f"{site.origin}/endless", trusting(site, max_bytes=64 * 1024))
    assert message.endswith(
        "is larger than 64 KB, so it was not downloaded; save the article's text as a .txt file and add that instead."
    )


async def test_declared_length_over_the_cap_is_refused_before_reading(site):
    # The server never sends the body: waiting for it would end in a timeout, not this refusal.
    message = await refused(f"{site.origin}/liar", trusting(site))
    assert message.endswith(
        "is larger than 5 MB, so it was not downloaded; save the article's text as a .txt file and add that instead."
    )


async def test_gzip_page_is_read(site):
    article = await fetch_url(f"{site.origin}/gzip-story", trusting(site))
    assert article.title == "Dam opens"


async def test_gzip_bomb_is_refused_at_the_cap_counted_after_decompression(site):
    site.bomb = _gzip_bomb()
    assert len(site.bomb) < DEFAULT_MAX_BYTES  # on the wire it is small; unpacked it is 100 MB
    tracemalloc.start()
    try:
        message = await refused(f"{site.origin}/bomb", trusting(site))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message.endswith(
        "is larger than 5 MB, so it was not downloaded; save the article's text as a .txt file and add that instead."
    )
    assert peak < 4 * DEFAULT_MAX_BYTES, f"peak {peak / 2**20:.0f} MB while refusing a gzip bomb"


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/pdf", "application/pdf"), ("/octet", "application/octet-stream"), ("/png", "image/png")],
)
async def test_wrong_content_type_is_refused(site, path, kind):
    message = await refused(f"{site.origin}{path}", trusting(site))
    assert (
        message
        == f"{site.origin}{path} is {kind}, not a web page or plain text; save the article's text as a .txt file and add that instead."
    )


async def test_plain_text_is_allowed(site):
    article = await fetch_url(f"{site.origin}/plain", trusting(site))
    assert article.text == "The harbour reopened on Friday after the storm passed."


async def test_markdown_page_is_read_without_its_markup(site):
    article = await fetch_url(f"{site.origin}/story.md", trusting(site))
    assert (article.title, article.text) == (
        "Harbour reopens",
        "The harbour reopened on Friday after the storm passed.",
    )


async def test_markdown_file_served_as_plain_text_is_read_without_its_markup(site):
    article = await fetch_url(f"{site.origin}/raw/story.md", trusting(site))
    assert article.text == "The harbour reopened on Friday after the storm passed."


async def test_binary_body_labelled_html_is_refused(site):
    message = await refused(f"{site.origin}/binary-as-html", trusting(site))
    assert (
        message == f"{site.origin}/binary-as-html looks like a binary file, not a web page; try another link."
    )


# -- encodings ------------------------------------------------------------------------------------------


async def test_a_page_declaring_windows_1252_in_a_meta_tag_is_decoded_by_it(site):
    article = await fetch_url(f"{site.origin}/meta-1252", trusting(site))
    assert (article.title, article.text) == ("Café closes", CAFE_TEXT)


async def test_a_page_declaring_shift_jis_in_a_meta_tag_is_decoded_by_it(site):
    article = await fetch_url(f"{site.origin}/meta-shift-jis", trusting(site))
    assert (article.title, article.text) == ("図書館の予算", TOKYO_TEXT)


async def test_a_page_declaring_latin_1_in_http_equiv_is_read_as_browsers_read_it(site):
    article = await fetch_url(f"{site.origin}/http-equiv-latin-1", trusting(site))
    assert article.text == CAFE_TEXT


async def test_a_byte_order_mark_outranks_the_header_charset(site):
    article = await fetch_url(f"{site.origin}/bom-over-header", trusting(site))
    assert (article.title, article.text) == ("Café closes", CAFE_TEXT)


async def test_the_header_charset_outranks_a_meta_tag(site):
    article = await fetch_url(f"{site.origin}/header-over-meta", trusting(site))
    assert article.text == CAFE_TEXT


async def test_a_page_declaring_no_charset_that_is_not_utf8_is_decoded_by_a_guess(site):
    article = await fetch_url(f"{site.origin}/undeclared-1252", trusting(site))
    assert article.text == CAFE_TEXT


async def test_a_page_in_no_recognisable_encoding_is_refused_in_one_sentence(site):
    message = await refused(f"{site.origin}/no-encoding", trusting(site))
    assert (
        message
        == f"{site.origin}/no-encoding is not text in an encoding that could be recognised; try another link."
    )


# -- timeouts ------------------------------------------------------------------------------------------


async def test_slow_drip_is_cut_by_the_total_timeout(site):
    # Each byte comes within the read timeout, so only the total timeout can end it.
    settings = trusting(site, read_timeout=1.0, total_timeout=1.5)
    message = await refused(f"{site.origin}/drip", settings)
    assert message == f"{site.origin}/drip took too long to answer; try again later."


async def test_silent_server_is_cut_by_the_read_timeout(site):
    # No total timeout within the test's own hang guard: only the read timeout can end it.
    settings = trusting(site, read_timeout=0.5, total_timeout=3600)
    async with asyncio.timeout(60):
        message = await refused(f"{site.origin}/silent", settings)
    assert message.endswith("took too long to answer; try again later.")


# -- the synchronous wrapper the CLI uses --------------------------------------------------------------


def test_sync_fetch_turns_a_refusal_into_a_read_failure():
    result = fetch_url_sync("http://169.254.169.254/latest/meta-data/")
    assert result == ReadFailure(
        "http://169.254.169.254/latest/meta-data/",
        "169.254.169.254 is a private or local address; only public web pages can be added.",
    )


# -- the CLI's fetch settings (index/cli.py) -------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "0", "-5"])
def test_bad_max_fetch_bytes_setting_is_one_sentence(tmp_path, value):
    result = subprocess.run(
        [sys.executable, "-m", "index", "--db", str(tmp_path / "c.db"), "add", "http://example.invalid/x"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CLIPPINGS_MAX_FETCH_BYTES": value},
    )
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    assert "CLIPPINGS_MAX_FETCH_BYTES" in result.stderr.splitlines()[-1]


async def test_an_error_page_is_refused_not_stored_as_an_article(site):
    message = await refused(f"{site.origin}/bad-request", trusting(site))
    assert message == f"{site.origin}/bad-request answered HTTP 400; check the link."


async def test_a_javascript_app_shell_is_refused_in_one_sentence(site):
    message = await refused(f"{site.origin}/app-shell", trusting(site))
    assert message == (
        f"{site.origin}/app-shell has no article text (the page may need JavaScript); try another link."
    )
