"""Every passage the product shows (`ask`, `ask --json`, `show`) is an exact substring of the stored
article text, for the kinds of input real newsrooms and users give: a varied set added through the CLI."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from index import Store
from index.cli import cli
from index.ingest.text import tokenize

LEAD = "The council approved the new harbour budget on Tuesday after a long debate."
MORE = "Spending on the sea wall rises by ten percent, the treasurer, Dr. Ann Lee, said."
END = '"We did it. It took years," the U.S. envoy said at No. 5 Main St. after the vote.'
BODY = f"<p>{LEAD}</p><p>{MORE}</p><p>{END}</p>"
PAGE = "<!doctype html><html><head>{head}<title>{title}</title></head><body>{body}</body></html>"

INPUTS: dict[str, bytes] = {
    "amp.html": PAGE.format(
        head='<meta charset="utf-8"><script async src="https://cdn.ampproject.org/v0.js"></script>',
        title="Amp page",
        body=f"<header><nav><a href='/'>Home</a></nav></header><article><h1>Amp page</h1>"
        f"<amp-img src='x.jpg' width='6' height='4'></amp-img>{BODY}</article><footer>© 2024 News</footer>",
    ).encode(),
    "jsonld.html": PAGE.format(
        head='<script type="application/ld+json">'
        + json.dumps({"@type": "NewsArticle", "headline": "Json ld", "articleBody": f"{LEAD} {MORE} {END}"})
        + "</script>",
        title="Json ld",
        body="<div id='root'></div>",
    ).encode(),
    "paywall.html": PAGE.format(
        head="",
        title="Paywall",
        body=f"<article><h1>Paywall</h1>{BODY}<div class='paywall'><p>Subscribe to continue reading."
        " Already a subscriber? Log in.</p></div></article>",
    ).encode(),
    "br.html": PAGE.format(
        head="", title="Breaks", body=f"<div>{LEAD}<br><br>{MORE}<br/>{END}</div>"
    ).encode(),
    "pre-table.html": PAGE.format(
        head="",
        title="Figures",
        body=f"<article><p>{LEAD}</p><pre>Year  Value\n2023  10</pre>"
        f"<table><tr><td>North</td><td>Smith</td></tr></table><p>{MORE}</p><p>{END}</p></article>",
    ).encode(),
    "cp1252.html": PAGE.format(
        head="<meta http-equiv='Content-Type' content='text/html; charset=windows-1252'>",
        title="Café",
        body=f"<article><p>The café “Le Pré” closed — after 40 years.</p>{BODY}</article>",
    ).encode("cp1252"),
    "sjis.html": PAGE.format(
        head="<meta charset='Shift_JIS'>",
        title="東京",
        body="<article><p>東京では明日、雨が降る見込みです。気象庁によると、午後から強い風が吹くということです。</p></article>",
    ).encode("shift_jis"),
    "bom.xhtml": b"\xef\xbb\xbf"
    + (
        '<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head>'
        f"<title>Xhtml</title></head><body><div>{BODY}</div></body></html>"
    ).encode(),
    "refs.html": PAGE.format(
        head="",
        title="References",
        body=f"<article>{BODY}<p>Roads&#11;and rails&#xFFFE;.</p></article>",
    ).encode(),
    "crlf.txt": f"Line ends\r\n\r\n{LEAD}\r\n{MORE}\r\r{END}\r".encode(),
    "controls.txt": f"Controls\n\n{LEAD}\x0c{MORE}\x0b{END}".encode(),
    "invisible.txt": (
        f"Invisible\n\nThe pri\u00adce\u200b rose.\u00a0Cafe\u0301 owners 👨\u200d👩\u200d👧 cheered. {LEAD}"
    ).encode(),
    "rtl.txt": "خبر عاجل\n\nقال المسؤولون إن الجسر الجديد سيفتح في مايو. \u202bmixed\u202c text.".encode(),
    "long.txt": ("Long paragraph\n\n" + " ".join(f"word{i}" for i in range(3000))).encode(),
    "quotes.txt": f"Quotes\n\n{LEAD} {MORE} {END} {LEAD}".encode(),
    "front.md": f"---\ntitle: Front matter\ndate: 2024-04-02\n---\n\n# Front matter\n\n{LEAD}\n\n{MORE}".encode(),
    "setext.md": f"Setext\n======\n\n{LEAD}\n\nSub head\n--------\n\n{END}".encode(),
    "feed.jsonl": "\n".join(
        [
            json.dumps({"text": f"{LEAD} {MORE}", "title": None, "id": 7, "extra": [1]}),
            json.dumps({"title": "Rss date", "text": END, "date": "Tue, 30 Apr 2024 23:30:00 -0500"}),
            json.dumps({"title": "Dup", "text": LEAD, "url": "https://news.example/a"}),
            json.dumps({"title": "Dup", "text": f"{LEAD} {END}", "url": "https://news.example/a"}),
            '{"title": "Cut off", "text": "The council',
        ]
    ).encode(),
}


def run(db, *args: str, input: str | None = None):
    return CliRunner().invoke(cli, ["--db", str(db), *args], input=input, catch_exceptions=False)


@pytest.fixture(scope="module")
def added(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    for name, data in INPUTS.items():
        (folder / name).write_bytes(data)
    db = folder.parent / "shown.db"
    result = run(db, "add", str(folder))
    assert result.exit_code == 1  # the cut-off last line of the feed alone is refused
    assert result.stderr.count("Error:") == 1
    with Store(db, ranker=None) as store:
        texts = {int(a.id): store.article_text("global", a.id) for a in store.list_articles("global", 0, 100)}
    return db, texts


def shown_text(db, article_id: int) -> str:
    return run(db, "show", str(article_id)).stdout.split("\n\n", 1)[1].removesuffix("\n")


def test_show_prints_each_articles_stored_text_whole(added):
    db, texts = added
    assert {i: shown_text(db, i) for i in texts} == texts


def test_every_stored_passage_is_the_texts_slice_and_together_they_hold_every_word(added):
    db, texts = added
    with Store(db, ranker=None) as store:
        for article_id, text in texts.items():
            passages = store.passages("global", article_id)
            assert [p.text for p in passages] == [text[p.start : p.end] for p in passages]
            assert set(tokenize(" ".join(p.text for p in passages))) == set(tokenize(text))


def test_every_passage_ask_json_shows_is_its_articles_text_from_start_to_end(added):
    db, texts = added
    checked = 0
    for text in texts.values():
        words = [w for w in tokenize(text) if len(w) > 3][:3] or tokenize(text)[:1]
        response = json.loads(run(db, "ask", "--json", "-k", "5", " ".join(words)).stdout)
        for result in response["results"]:
            assert texts[int(result["article_id"])][result["start"] : result["end"]] == result["passage"]
            checked += 1
    assert checked >= len(texts)


def test_every_passage_ask_quotes_is_in_its_articles_text(added):
    db, texts = added
    whole = "\n".join(texts.values())
    answer = run(db, "ask", "-k", "5", "council harbour budget").stdout
    quotes = re.findall(r"^   > (.*)$", answer, flags=re.MULTILINE)
    assert quotes
    assert all(quote in whole for quote in quotes)


def test_the_stored_texts_keep_the_story_and_drop_the_boilerplate(added):
    _db, texts = added
    whole = "\n".join(texts.values())
    for sentence in (LEAD, MORE, END, "Roads and rails.", "Year Value", "東京では明日、雨が降る見込みです。"):
        assert sentence in whole
    for chrome in ("Subscribe to continue", "Home", "©", "title: Front matter", "======", "\x0c", "\x0b"):
        assert chrome not in whole
