import codecs
import gzip
import json
from pathlib import Path

import pytest
from conftest import SAMPLE

from index import Article, ReadFailure, Store, articles_from_bytes, read_path, sniff_kind
from index.errors import BadInput
from index.ingest.fields import check_url
from index.ingest.readers import article_from_html


def one_html(page: str, url: str | None = "https://news.example/story") -> Article:
    return article_from_html(page, url or "story.html", url=url)


def read_one(path: Path) -> Article | ReadFailure:
    results = list(read_path(str(path)))
    assert len(results) == 1
    return results[0]


def test_sample_takes_headline_as_title():
    article = read_one(SAMPLE)
    assert article.title == "China Solicits For Peace Inorder To Settle Ukraine War"


def test_sample_drops_site_chrome():
    text = read_one(SAMPLE).text
    assert text.startswith("Qin Gang, China’s Foreign Minister")
    assert text.endswith("are not directed confrontationally against third parties.")
    for chrome in ("Skip to content", "Show Comments", "Leave a comment"):
        assert chrome not in text


def test_markdown_front_matter_gives_the_fields_and_is_left_out_of_the_text(tmp_path):
    path = tmp_path / "story.md"
    path.write_text(
        '---\ntitle: "Rates held steady"\ndate: 2024-04-02\nauthor: Jane Roe\ntags: [rates]\n---\n\n'
        "The central bank kept rates unchanged on Tuesday."
    )
    article = read_one(path)
    assert (article.title, article.published, article.author, article.text) == (
        "Rates held steady",
        "2024-04-02",
        "Jane Roe",
        "The central bank kept rates unchanged on Tuesday.",
    )


def test_markdown_front_matter_title_that_yaml_reads_as_a_number_is_the_title_as_written(tmp_path):
    path = tmp_path / "review.md"
    path.write_text("---\ntitle: 1984\ndate: 2024-04-02\n---\n\nThe novel is back in the bestseller lists.")
    article = read_one(path)
    assert (article.title, article.published, article.text) == (
        "1984",
        "2024-04-02",
        "The novel is back in the bestseller lists.",
    )


def test_markdown_front_matter_date_as_jekyll_writes_it_is_the_date_in_its_own_zone(tmp_path):
    path = tmp_path / "story.md"
    path.write_text("---\ntitle: Late vote\ndate: 2024-04-02 23:30:00 -0500\n---\n\nThe council voted late.")
    assert read_one(path).published == "2024-04-02"


def test_a_text_opening_with_ruled_lines_that_name_no_article_field_keeps_them(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("---\nWarning: graphic images\n---\n\nThe war went on through the winter.")
    assert read_one(path).text == "---\nWarning: graphic images\n---\n\nThe war went on through the winter."


def test_a_text_whose_first_sentence_stands_over_a_rule_of_dashes_keeps_that_sentence(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("The minister resigned on Tuesday.\n--\nThe council chose a new leader on Wednesday.")
    article = read_one(path)
    assert (article.title, article.text) == (
        "Story",
        "The minister resigned on Tuesday.\n--\nThe council chose a new leader on Wednesday.",
    )


def test_markdown_heading_is_the_title(tmp_path):
    path = tmp_path / "story.md"
    path.write_text("# Rates held steady\n\nThe central bank kept rates unchanged on Tuesday.")
    article = read_one(path)
    assert (article.title, article.text) == (
        "Rates held steady",
        "The central bank kept rates unchanged on Tuesday.",
    )


def test_html_gives_title_date_author_and_main_text(tmp_path):
    path = tmp_path / "story.html"
    body = "<p>" + "The council approved the new budget after a long debate. " * 5 + "</p>"
    path.write_text(
        "<html><head><title>Council passes budget</title>"
        '<meta name="author" content="Jane Roe">'
        '<meta property="article:published_time" content="2024-05-01"></head>'
        f"<body><nav>Home | World | Sports</nav><article><h1>Council passes budget</h1>{body}</article>"
        "<footer>Copyright 2024</footer></body></html>"
    )
    article = read_one(path)
    assert (article.title, article.published, article.author) == (
        "Council passes budget",
        "2024-05-01",
        "Jane Roe",
    )
    assert article.text.startswith("The council approved the new budget")
    assert "Home | World" not in article.text


def test_jsonl_records_carry_metadata(tmp_path):
    path = tmp_path / "feed.jsonl"
    records = [
        {
            "id": "a1",
            "title": "One",
            "text": "First article text is here.",
            "url": "https://x.test/1",
            "date": "2024-01-02",
        },
        {"title": "Two", "text": "Second article text is here."},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records))
    first, second = list(read_path(str(path)))
    assert (first.title, first.url, first.published, first.source) == (
        "One",
        "https://x.test/1",
        "2024-01-02",
        "a1",
    )
    assert (second.title, second.text) == ("Two", "Second article text is here.")


def test_a_record_whose_text_is_empty_or_not_a_string_is_told_so(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"title": "Empty", "text": ""}\n{"title": "List", "text": ["a", "b"]}\n')
    assert [failure.reason for failure in read_path(str(path))] == [
        f"{path} line 1 has an empty 'text' field; put the article's text in it as a string.",
        f"{path} line 2 has a 'text' field that is not a string; put the article's text in it as a string.",
    ]


def test_json_list_with_a_bad_record_keeps_the_good_one(tmp_path):
    path = tmp_path / "feed.json"
    path.write_text(
        json.dumps([{"title": "Good", "text": "A good article body here."}, {"title": "No text"}])
    )
    good, bad = list(read_path(str(path)))
    assert good.title == "Good"
    assert bad.reason == f"{path} record 2 has no 'text' field; give each record 'title' and 'text' fields."


def test_folder_is_read_recursively_in_order(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.txt").write_text("Alpha\n\nThe alpha article body.")
    (tmp_path / "b" / "c.txt").write_text("Gamma\n\nThe gamma article body.")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    assert [a.title for a in read_path(str(tmp_path))] == ["Alpha", "Gamma"]


def test_utf16_with_bom_is_decoded(tmp_path):
    path = tmp_path / "story.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "Title\n\nBody of the UTF-16 article.".encode("utf-16-le"))
    assert read_one(path).text == "Body of the UTF-16 article."


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert (
        read_one(path).reason
        == f"{path} looks like a binary file, not text; give a .txt, .md, .html or .json file."
    )


def test_invalid_utf8_is_refused(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("Caf\xe9 society news article".encode("latin-1"))
    assert (
        read_one(path).reason
        == f"{path} is not valid UTF-8 text (byte 3); save it as UTF-8 and add it again."
    )


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("")
    assert (
        read_one(path).reason
        == f"{path} has no article text left after cleaning; check that it is an article."
    )


def test_text_too_short_for_an_article_is_refused_saying_so(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("Rain today.\n")
    assert (
        read_one(path).reason
        == f"{path} is too short for an article (11 characters; at least 20); give the article's whole text."
    )


def test_boilerplate_only_file_is_refused(tmp_path):
    path = tmp_path / "chrome.txt"
    path.write_text("Skip to content\n\nShow Comments\n\nLeave a comment\n\nAdvertisement")
    assert "has no article text left after cleaning" in read_one(path).reason


def test_unsupported_type_is_refused(tmp_path):
    path = tmp_path / "story.pdf"
    path.write_bytes(b"%PDF-1.4")
    assert (
        read_one(path).reason
        == f"{path} has an unsupported type; use .txt, .md, .html, .json or .jsonl files."
    )


def test_missing_file_is_refused(tmp_path):
    path = tmp_path / "nope.txt"
    assert read_one(path).reason == f"{path} does not exist; check the path."


def test_jsonl_gz_streams_every_record(tmp_path):
    path = tmp_path / "feed.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as feed:
        for n in range(3):
            feed.write(json.dumps({"title": f"Story {n}", "text": f"The story number {n} is here."}) + "\n")
    assert [a.title for a in read_path(str(path))] == ["Story 0", "Story 1", "Story 2"]


def test_jsonl_larger_than_the_file_cap_is_streamed(tmp_path, monkeypatch):
    monkeypatch.setattr("index.ingest.readers.MAX_FILE_BYTES", 100)
    path = tmp_path / "feed.jsonl"
    path.write_text(
        "\n".join(json.dumps({"title": f"T{n}", "text": f"Article body number {n}."}) for n in range(20))
    )
    assert len(list(read_path(str(path)))) == 20


def test_jsonl_line_over_the_document_cap_is_refused_alone(tmp_path, monkeypatch):
    monkeypatch.setattr("index.ingest.readers.MAX_DOCUMENT_BYTES", 200)
    path = tmp_path / "feed.jsonl"
    lines = [
        {"title": "Short", "text": "A short article body here."},
        {"title": "Huge", "text": "word " * 100},
        {"title": "After", "text": "Another short article body."},
    ]
    path.write_text("\n".join(json.dumps(r) for r in lines))
    first, refused, last = list(read_path(str(path)))
    assert (first.title, last.title) == ("Short", "After")
    assert refused.source == f"{path} line 2"


def test_lone_surrogate_in_a_json_record_is_dropped(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"title": "Odd \\ud800", "text": "Text with a lone \\ud800 surrogate inside."}\n')
    (article,) = list(read_path(str(path)))
    assert (article.title, article.text) == ("Odd", "Text with a lone surrogate inside.")


NUL_RECORD = {
    "id": "rec\u00001",
    "title": "Nul\u0000 author",
    "text": "The council\u0000 approved the budget on Tuesday.",
    "author": "Bob\u0000Smith",
    "site": "Daily\u0007News",
    "date": "2024-05-01\u0000",
}


def test_control_characters_in_a_json_records_optional_fields_become_spaces(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text(json.dumps(NUL_RECORD) + "\n")
    (article,) = list(read_path(str(path)))
    assert (article.author, article.site, article.source, article.published) == (
        "Bob Smith",
        "Daily News",
        "rec 1",
        "2024-05-01",
    )


def test_a_json_record_with_nul_in_its_fields_is_stored_without_it_in_sqlite(tmp_path):
    path = tmp_path / "feed.json"
    path.write_text(json.dumps(NUL_RECORD))
    with Store(tmp_path / "c.db", ranker=None) as store:
        (result,) = store.add_many(read_path(str(path)), "global")
        stored = store.get_article("global", result.article.id)
        text = store.article_text("global", stored.id)
    assert (stored.title, stored.author, stored.site, text) == (
        "Nul author",
        "Bob Smith",
        "Daily News",
        "The council approved the budget on Tuesday.",
    )


def test_nul_in_an_html_page_is_removed_from_its_title_author_and_text(tmp_path):
    path = tmp_path / "story.html"
    body = "The council approved the new budget after a long debate. " * 5
    path.write_text(
        "<html><head><!-- " + "padding " * 1200 + "-->"  # NUL past the binary check of the first 8 KB
        '<title>Coun\x00cil passes budget</title><meta name="author" content="Jane\x00 Roe"></head>'
        f"<body><article><p>{body}\x00</p></article></body></html>"
    )
    article = read_one(path)
    assert (article.title, article.author, article.text) == (
        "Council passes budget",
        "Jane Roe",
        body.strip(),
    )


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b'[\n{"text": "one"},\n{"text": "two"}\n]\n', "json"),
        (b'{"text": "one"}\n{"text": "two"}\n', "jsonl"),
        (b'{"text": "one",\n"site":\n{"name": "Daily"}\n}\n', "json"),
        ("<html><p>Hi</p></html>".encode("utf-16"), "html"),
    ],
    ids=["pretty-list", "json-lines", "pretty-object", "utf-16-html"],
)
def test_sniff_kind_reads_the_decoded_text_as_a_whole(data, kind):
    assert sniff_kind(data) == kind


@pytest.mark.parametrize("separator", ["\u2028", "\u2029"])
def test_a_json_lines_record_holding_a_unicode_line_break_is_one_record(separator):
    record = {"title": "Sea wall", "text": f"The council voted{separator}on Tuesday to rebuild it."}
    data = (json.dumps(record, ensure_ascii=False) + "\n").encode()
    (article,) = list(articles_from_bytes(data, "feed.jsonl", "jsonl"))
    assert (article.title, article.text) == ("Sea wall", "The council voted on Tuesday to rebuild it.")


FEED = "".join(
    json.dumps({"title": f"Story {n}", "text": f"The story number {n} is here."}) + "\n" for n in range(3)
)


@pytest.mark.parametrize("name", ["feed.jsonl", "feed.jsonl.gz"])
@pytest.mark.parametrize(
    "data",
    [FEED.encode("utf-16"), codecs.BOM_UTF16_BE + FEED.encode("utf-16-be"), FEED.encode("utf-32")],
    ids=["utf-16", "utf-16-be", "utf-32"],
)
def test_jsonl_in_utf16_or_utf32_with_a_bom_streams_every_record(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    assert [a.title for a in read_path(str(path))] == ["Story 0", "Story 1", "Story 2"]


def test_a_jsonl_line_that_is_not_valid_utf16_is_refused_alone(tmp_path):
    path = tmp_path / "feed.jsonl"
    bad = '{"title": "Bad", "text": "Broken \ud800 here."}\n'.encode("utf-16-le", "surrogatepass")
    path.write_bytes(FEED.encode("utf-16") + bad + FEED.encode("utf-16-le"))
    results = list(read_path(str(path)))
    titles = [r.title if isinstance(r, Article) else None for r in results]
    assert titles == ["Story 0", "Story 1", "Story 2", None, "Story 0", "Story 1", "Story 2"]
    assert results[3].reason == f"{path} line 4 is not valid UTF-16; save the file as UTF-8 and add it again."


def test_a_bad_date_in_a_jsonl_record_names_the_file_and_line(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text(
        FEED + json.dumps({"title": "Odd", "text": "The story is here.", "date": "nonsense"}) + "\n"
    )
    *_stories, refused = list(read_path(str(path)))
    assert refused.reason == (
        f"{path} line 4: 'nonsense' is not a date this can read; write it in the record as 2025-03-14,"
        " 14 March 2025 or March 14, 2025."
    )


def test_a_jsonl_records_date_as_an_rss_feed_writes_it_is_read_in_its_own_time_zone(tmp_path):
    path = tmp_path / "feed.jsonl"
    record = {
        "title": "Late news",
        "text": "The council met late on Tuesday.",
        "date": "Tue, 30 Apr 2024 23:30:00 -0500",
    }
    path.write_text(json.dumps(record) + "\n")
    assert read_one(path).published == "2024-04-30"


def test_a_jsonl_files_cut_off_last_line_names_the_column_where_it_breaks(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"title": "Cut", "text": "The council met')
    assert read_one(path).reason == (
        f"{path} line 1 is not valid JSON (Unterminated string starting at column 26); fix or remove it."
    )


def test_a_json_file_cut_off_inside_a_string_says_where_once(tmp_path):
    path = tmp_path / "feed.json"
    path.write_text('[{"title": "Cut",\n"text": "The council met')
    assert read_one(path).reason == (
        f"{path} is not valid JSON (Unterminated string starting at line 2); fix it and add it again."
    )


def test_a_json_lines_record_without_a_title_is_titled_by_its_text_not_its_file(tmp_path):
    path = tmp_path / "feed.jsonl"
    path.write_text('{"text": "The council met on Tuesday."}\n')
    assert read_one(path).title == "The council met on Tuesday."


def test_a_bad_url_in_a_json_record_names_the_file_and_record(tmp_path):
    path = tmp_path / "feed.json"
    path.write_text(json.dumps([{"title": "Odd", "text": "The story is here.", "url": 5}]))
    (refused,) = list(read_path(str(path)))
    assert (
        refused.reason
        == f"{path} record 1: '5' is not an http or https link; give the article's web address."
    )


# -- HTML pages: titles, opening paragraphs, dates, encodings ---------------------------------------

MAYOR_PAGE = (
    "<html><body><article><p>The mayor resigned on Monday.</p>"
    "<p>She said the budget dispute with the council had made her position impossible.</p>"
    "<p>Her deputy will take over until an election in spring.</p></article></body></html>"
)
MAYOR_TEXT = (
    "The mayor resigned on Monday.\n"
    "She said the budget dispute with the council had made her position impossible.\n"
    "Her deputy will take over until an election in spring."
)


def test_a_page_without_a_title_keeps_its_opening_paragraph():
    article = one_html(MAYOR_PAGE)
    assert (article.title, article.text) == ("The mayor resigned on Monday.", MAYOR_TEXT)


def test_a_page_without_a_title_piped_to_stdin_keeps_its_opening_paragraph(tmp_path):
    with Store(tmp_path / "c.db") as store:
        results = list(articles_from_bytes(MAYOR_PAGE.encode(), "<stdin>", sniff_kind(MAYOR_PAGE.encode())))
        store.add(results[0], "global")
        hit = store.search("when did the mayor resign", ["global"]).hits[0]
        text = store.article_text("global", hit.article.id)
    assert text == MAYOR_TEXT
    assert hit.passage.text == text[hit.passage.start : hit.passage.end]
    assert hit.passage.text.startswith("The mayor resigned on Monday.")


def test_a_headline_the_page_repeats_in_its_text_is_dropped_once():
    page = (
        "<html><head><title>Mayor resigns</title></head><body><article><h1>Mayor resigns</h1>"
        "<p>The mayor resigned on Monday after a long dispute with the council.</p></article></body></html>"
    )
    article = one_html(page)
    assert (article.title, article.text) == (
        "Mayor resigns",
        "The mayor resigned on Monday after a long dispute with the council.",
    )


def test_a_live_blogs_headline_that_trafilatura_puts_after_the_first_entry_is_dropped():
    entry = "Polls closed in the district and counting began, officials said. " * 3
    entries = "".join(f"<div class='entry'><p>{entry}{i}</p></div>" for i in range(3))
    page = (
        "<html><head><title>Election night live</title></head><body><article>"
        f"<h1>Election night live</h1>{entries}</article></body></html>"
    )
    article = one_html(page)
    assert article.text == "\n".join(f"{entry}{i}" for i in range(3))


CAFE_TEXT = "The café on Main Street closed on Friday after “forty years” of business, its owner said."


def cafe_page(head: str = '<meta charset="windows-1252">') -> str:
    return (
        f"<html><head>{head}<title>Café closes</title></head>"
        f"<body><article><p>{CAFE_TEXT}</p></article></body></html>"
    )


def test_an_html_file_declaring_windows_1252_in_a_meta_tag_is_decoded_by_it(tmp_path):
    path = tmp_path / "cafe.html"
    path.write_bytes(cafe_page().encode("cp1252"))
    article = read_one(path)
    assert (article.title, article.text) == ("Café closes", CAFE_TEXT)


def test_an_html_file_declaring_latin_1_in_http_equiv_is_read_as_browsers_read_it(tmp_path):
    path = tmp_path / "cafe.html"
    head = '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">'
    path.write_bytes(cafe_page(head).encode("cp1252"))  # browsers read latin-1 labels as windows-1252
    assert read_one(path).text == CAFE_TEXT


def test_html_piped_in_declaring_its_charset_in_a_meta_tag_is_decoded_by_it():
    data = cafe_page().encode("cp1252")
    [article] = articles_from_bytes(data, "<stdin>", sniff_kind(data))
    assert (article.title, article.text) == ("Café closes", CAFE_TEXT)


def test_a_text_file_that_is_not_utf8_is_still_refused_even_if_it_mentions_a_charset(tmp_path):
    path = tmp_path / "cafe.txt"
    path.write_bytes(cafe_page().encode("cp1252"))
    assert (
        read_one(path).reason
        == f"{path} is not valid UTF-8 text (byte 51); save it as UTF-8 and add it again."
    )


def test_a_json_records_link_is_stored_without_user_name_password_or_fragment(tmp_path):
    path = tmp_path / "feed.json"
    record = {"title": "Dam opens", "text": "The new dam opened on Tuesday after ten years of building."}
    path.write_text(json.dumps({**record, "url": "https://editor:hunter2@news.example/dam#comments"}))
    assert read_one(path).url == "https://news.example/dam"


BUDGET = "".join(
    f"<p>The city council voted on Tuesday to approve a new budget for the library, ending debate {i}.</p>"
    for i in range(3)
)


def test_a_date_in_a_link_to_another_story_is_not_the_pages_date():
    page = (
        f"<html><head><title>Budget vote</title></head><body><article>{BUDGET}</article>"
        "<aside><a href='/2015/01/02/old'>Library fire, January 2, 2015</a></aside></body></html>"
    )
    assert one_html(page).published is None


def test_a_copyright_footer_is_not_the_pages_date():
    page = (
        f"<html><head><title>Budget vote</title></head><body><article>{BUDGET}</article>"
        "<footer>© 2019 Daily Bugle. All rights reserved.</footer></body></html>"
    )
    assert one_html(page).published is None


def test_a_published_time_meta_tag_gives_the_date():
    page = (
        '<html><head><title>Budget vote</title><meta property="article:published_time"'
        f' content="2024-05-01T09:30:00Z"></head><body><article>{BUDGET}</article></body></html>'
    )
    assert one_html(page).published == "2024-05-01"


def test_a_time_element_gives_the_date():
    page = (
        "<html><head><title>Budget vote</title></head><body><article>"
        f'<p>By Ana Ruiz, <time datetime="2024-05-01">1 May 2024</time></p>{BUDGET}</article></body></html>'
    )
    assert one_html(page).published == "2024-05-01"


def titled(title: str, head: str = "", body: str = "") -> str:
    return f"<html><head><title>{title}</title>{head}</head><body><article>{body}{BUDGET}</article></body></html>"


def test_a_title_with_a_dash_inside_it_is_kept_whole():
    assert one_html(titled("Q&amp;A - why the library budget matters")).title == (
        "Q&A - why the library budget matters"
    )


def test_a_title_that_goes_on_after_a_dash_is_kept_whole():
    assert one_html(titled("Council votes - and the mayor walks out")).title == (
        "Council votes - and the mayor walks out"
    )


def test_the_host_named_after_the_title_is_dropped():
    article = one_html(titled("Council approves budget | Bugle"), url="https://www.bugle.com/budget")
    assert article.title == "Council approves budget"


def test_the_site_name_after_the_title_is_dropped():
    page = titled(
        "Budget 2024 - what it means for you - BBC News", '<meta property="og:site_name" content="BBC News">'
    )
    assert one_html(page).title == "Budget 2024 - what it means for you"


def test_an_og_title_is_kept_when_the_title_element_adds_more():
    page = titled(
        "Council approves budget | Daily Bugle",
        '<meta property="og:title" content="Council approves budget">',
    )
    assert one_html(page).title == "Council approves budget"


APP_SHELL = (
    "<html><head><title>Daily Bugle</title></head><body><div id=root></div><script src=/app.js></script>"
    "<noscript>You need to enable JavaScript to run this app.</noscript></body></html>"
)


def test_a_javascript_app_shell_file_is_refused_in_one_sentence(tmp_path):
    path = tmp_path / "bugle.html"
    path.write_text(APP_SHELL)
    assert read_one(path).reason == (
        f"{path} has no article text (the page may need JavaScript); check that it is an article."
    )


def test_noscript_text_is_left_out_of_an_article():
    page = titled("Budget vote", body="<noscript>Please enable JavaScript to see comments.</noscript>")
    assert one_html(page).text == (
        "The city council voted on Tuesday to approve a new budget for the library, ending debate 0.\n"
        "The city council voted on Tuesday to approve a new budget for the library, ending debate 1.\n"
        "The city council voted on Tuesday to approve a new budget for the library, ending debate 2."
    )


def test_a_link_that_is_not_http_is_named_without_its_password():
    with pytest.raises(BadInput) as refused:
        check_url("ftp://editor:hunter2@example.com/story")
    assert (
        str(refused.value)
        == "'ftp://example.com/story' is not an http or https link; give the article's web address."
    )


def test_a_character_reference_xml_cannot_hold_keeps_the_page_and_separates_its_words():
    page = (
        "<html><head><title>Council passes budget</title></head><body><article>"
        "<p>The council approved the new budget after a long debate on Monday.</p>"
        "<p>Spending on roads&#11;rises by ten percent&#xFFFE;. Next year&#1;, more.</p>"
        "</article></body></html>"
    )
    article = one_html(page)
    assert article.text == (
        "The council approved the new budget after a long debate on Monday.\n"
        "Spending on roads rises by ten percent. Next year, more."
    )


def test_markdown_file_is_stored_without_its_markup(tmp_path):
    path = tmp_path / "story.md"
    path.write_text(
        "# Rates held steady\n\nThe **central bank** kept rates unchanged, [Reuters](https://r.example) said."
    )
    assert read_one(path).text == "The central bank kept rates unchanged, Reuters said."


def test_plain_text_file_keeps_what_looks_like_markup(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("Rates held steady\n\nThe **central bank** kept rates unchanged on Tuesday, it said.")
    assert read_one(path).text == "The **central bank** kept rates unchanged on Tuesday, it said."
