"""The reply formatter keeps every message within Discord's limits and quotes verbatim."""

import re

import discord
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.formatting import (
    CONTENT_LIMIT,
    EMBEDS_TOTAL_LIMIT,
    answer_page,
    article_list_page,
    choice_name,
    closest_page,
    context_embed,
    cooldown_sentence,
    embed_title,
    escape,
    fit_sentence,
    help_text,
    highlight,
    no_answer,
    nothing_found,
    question_key,
    question_of_answer,
    question_of_no_answer,
    quote_passage,
    safe_url,
)
from bot.formatting import unescape as formatting_unescape
from index import Hit, Passage, SearchResponse, StoredArticle


def stored(
    title: str = "Talks", url: str | None = "https://news.test/a", passages: int = 7, article_id: str = "1"
) -> StoredArticle:
    return StoredArticle(article_id, "1", title, url, "2023-03-07", None, None, passages, 2000, "2024-01-01")


def hit(
    text: str,
    rank: int = 1,
    terms: tuple[str, ...] = (),
    title: str = "Talks",
    url: str | None = "https://news.test/a",
) -> Hit:
    return Hit(rank, 1.0, stored(title, url), Passage("1", 4, 0, len(text), text), terms)


def response(
    hits: list[Hit], question: str = "what about weapons", total: int | None = None
) -> SearchResponse:
    return SearchResponse(
        question, ("weapons",), hits, 3, len(hits) if total is None else total, ("1", "global")
    )


def unescape(text: str) -> str:
    return text.replace("\\", "")


def test_escape_neutralises_bold_and_masked_links():
    assert escape("**big** [click](https://evil.test)") == "\\*\\*big\\*\\* \\[click\\](https://evil.test)"


def test_escape_neutralises_mention_syntax():
    assert escape("hi <@123> and <t:0>") == "hi \\<@123> and \\<t:0>"


def test_escape_neutralises_headings_and_lists_at_line_start():
    assert escape("# Big\n- item\n1. first") == "\\# Big\n\\- item\n1\\. first"


def escape_every_pattern(text: str) -> str:
    """`escape` without its shortcut for text with nothing to escape: all three patterns, always."""
    text = re.sub(r"([\\*_~`|\[\]<])", r"\\\1", text)
    text = re.sub(r"^(\s*)(#{1,3} |-# |[-+*] |>)", lambda m: m.group(1) + "\\" + m.group(2), text, flags=re.M)
    return re.sub(r"^(\s*\d+)(\. )", r"\1\\\2", text, flags=re.M)


PIECES = [
    "1. ",
    "12. ",
    "# ",
    "### ",
    "-# ",
    "- ",
    "+ ",
    "* ",
    ">",
    "\n",
    " ",
    "\t",
    "a",
    "7",
    ".",
    "*",
    "_",
    "~",
]
PIECES += ["`", "|", "[", "]", "<", "\\"]


@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join))
def test_escape_is_the_same_with_or_without_its_shortcut(text):
    assert escape(text) == escape_every_pattern(text)


def test_highlight_bolds_matched_words_only():
    assert highlight("China did not provide weapons to Russia", ("weapons", "china")) == (
        "**China** did not provide **weapons** to Russia"
    )


def test_highlight_bolds_possessive_forms_of_a_term():
    assert highlight("China’s weapons", ("china",)) == "**China’s** weapons"


def test_highlight_bolds_a_chinese_word_once_where_its_characters_and_pair_overlap():
    assert highlight("提供致命性武器。", ("武", "武器", "器")) == "提供致命性**武器**。"


def test_highlight_bolds_touching_chinese_matches_as_one_stretch():
    assert highlight("秦刚说武器", ("秦", "刚", "器")) == "**秦刚**说武**器**"


def test_highlight_leaves_a_link_as_written():
    text = "The report is at https://news.test/weapons_report_2023 and was read widely."
    assert highlight(text, ("weapons", "report")) == (
        "The **report** is at https://news.test/weapons_report_2023 and was read widely."
    )


def test_escape_leaves_links_alone_and_escapes_around_them():
    assert escape("*see* https://x.test/a_b_(c) or <https://x.test/d_e>.") == (
        "\\*see\\* https://x.test/a_b_(c) or \\<https://x.test/d_e>."
    )


@given(
    st.lists(
        st.sampled_from([*PIECES, "https://x.test/a_b", "http://y.test/*c*", ":", "/", "https://"]),
        max_size=10,
    ).map("".join)
)
def test_unescape_gives_back_what_escape_was_given(text):
    assert formatting_unescape(escape(text)) == text


def test_quote_is_a_block_quote_of_every_line():
    assert quote_passage("First line.\n\nSecond line.", (), 4096) == "> First line.\n>\n> Second line."


def test_quote_drops_bold_before_cutting_text():
    text = "weapons " * 50
    quoted = quote_passage(text.strip(), ("weapons",), 420)
    assert "**" not in quoted
    assert unescape(quoted)[2:] == text.strip()


def test_quote_that_cannot_fit_is_cut_and_marked():
    text = "*" * 700
    quoted = quote_passage(text, (), 500)
    assert len(quoted) <= 500
    assert quoted.endswith("…")
    assert text.startswith(unescape(quoted)[2:-1])


def test_answer_page_quotes_the_passage_with_title_link_and_position():
    page = answer_page(response([hit("China did not provide weapons.", terms=("weapons",))]))
    embed = page.embeds[0]
    assert (embed.title, embed.url, embed.description) == (
        "Talks",
        "https://news.test/a",
        "> China did not provide **weapons**.",
    )
    assert embed.footer.text == "2023-03-07 · passage 5 of 7 · article #1"
    assert page.content == "Result 1 for “what about weapons”"


def test_embed_title_escapes_the_titles_markdown():
    assert embed_title("||Secret|| **plan** for <@123>") == r"\|\|Secret\|\| \*\*plan\*\* for \<@123>"


def test_embed_title_made_of_markdown_is_cut_before_escaping_to_fit_256_characters():
    title = embed_title("*" * 300)
    assert title == "\\*" * 127 + "…"
    assert len(title) == 255


def test_answer_page_stays_within_6000_characters_across_embeds():
    heavy = "*_" * 350  # 700 characters that all need escaping
    hits = [hit(heavy, rank=r, title="T" * 300) for r in range(1, 6)]
    page = answer_page(response(hits))
    assert sum(len(e) for e in page.embeds) <= EMBEDS_TOTAL_LIMIT
    assert 1 <= page.shown < 5
    assert all(len(e.title) <= 256 and len(e.description) <= 4096 for e in page.embeds)


def test_answer_page_shows_all_hits_that_fit():
    hits = [hit(f"Passage number {r} about weapons.", rank=r) for r in range(1, 6)]
    page = answer_page(response(hits))
    assert (page.shown, page.content) == (5, "Results 1–5 for “what about weapons”")


def test_answer_page_keeps_content_under_2000_characters():
    question = "<@1> " * 500
    page = answer_page(response([hit("Some text.")], question=question))
    assert len(page.content) <= 2000


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "https://",
        "https://exa\nmple.com/a",
        "https://example.com/a\tb",
        "ftp://x.test/a",
    ],
)
def test_embed_drops_a_link_discord_would_refuse(url):
    page = answer_page(response([hit("Text.", url=url)]))
    assert page.embeds[0].url is None


def test_a_link_with_any_space_or_control_character_is_refused():
    every = range(0x3001)  # the last whitespace character is U+3000
    refused = [chr(c) for c in every if safe_url(f"https://x.test/a{chr(c)}b") is None]
    assert refused == [chr(c) for c in every if chr(c).isspace() or c < 32]


def test_everyone_in_a_quote_is_shown_as_text():
    page = answer_page(response([hit("Hello @everyone and @here.")]))
    assert page.embeds[0].description == "> Hello @everyone and @here."


def test_nothing_found_says_what_was_searched_and_suggests_titles():
    text = nothing_found(
        response([]), ["Budget vote", "Dam opens"], "this server's articles and the global library"
    )
    assert text == (
        "No passage matches “what about weapons” in 3 articles (this server's articles and the global library)."
        " Try fewer or different words, or ask about a recent article: Budget vote; Dam opens."
    )


def test_nothing_found_in_an_empty_library_says_how_to_add():
    empty = SearchResponse("weapons", ("weapons",), [], 0, 0, ("global",))
    assert nothing_found(empty, [], "the global library").endswith(
        "a moderator can add one with `/article add`."
    )


def test_context_marks_the_focused_passage():
    passages = [Passage("1", i, 0, 5, f"Text {i}.") for i in (3, 4, 5)]
    embed = context_embed(stored(), passages, 4)
    assert embed.description == "*passage 4*\n> Text 3.\n\n▶ *passage 5*\n> Text 4.\n\n*passage 6*\n> Text 5."


def test_choice_name_fits_autocomplete_limit():
    assert len(choice_name(stored("X" * 300, article_id="12345"))) == 100
    assert choice_name(stored("Short")) == "Short (#1)"


def test_article_list_page_numbers_pages():
    embed = article_list_page([stored("One"), stored("Two", article_id="2")], 1, 3, 22)
    assert isinstance(embed, discord.Embed)
    assert (embed.title, embed.footer.text) == ("Articles (22)", "page 2 of 3")
    assert embed.description == "`#1` One · 7 passages\n`#2` Two · 7 passages"


def test_no_answer_is_one_sentence_within_the_content_limit_with_the_question_escaped():
    text = no_answer(response([hit("x")], question="**" + "why " * 800), "the global library")
    assert len(text) <= CONTENT_LIMIT
    assert text.startswith("I couldn't find an answer to “\\*\\*why why")


def test_closest_page_says_the_passages_are_not_an_answer():
    page = closest_page(response([hit("Weapons were not sent.", terms=("weapons",))]))
    assert (
        page.content
        == "Closest passages for “what about weapons”: not an answer, only the nearest text found"
    )
    assert page.embeds[0].description == "> **Weapons** were not sent."


def test_a_no_answer_reply_reads_back_its_question():
    content = no_answer(response([hit("x")], question="who won *the* cup?"), "the global library")
    assert question_of_no_answer(content, question_key("who won *the* cup?")) == "who won *the* cup?"
    assert question_of_no_answer(content, question_key("who won the cup?")) is None


@pytest.mark.parametrize(
    "question", ["Qin", "a*b_c\\d", "# head\n1. x > y", "<@123> [x](y) `code` ~~no~~", "- list", ">quote"]
)
def test_a_question_reads_back_from_its_answer(question):
    content = answer_page(SearchResponse(question, (), [], 0, libraries=("global",))).content
    assert question_of_answer(content, question_key(question)) == question


def test_an_answer_for_another_question_does_not_read_back():
    content = answer_page(SearchResponse("Qin", (), [], 0, libraries=("global",))).content
    assert question_of_answer(content, question_key("Qin Gang")) is None


def test_help_in_direct_messages_names_only_the_global_library():
    text = help_text(None, 12, None)
    assert "Here in direct messages I read the global library: 12 articles." in text
    assert len(text) <= CONTENT_LIMIT


def test_cooldown_sentence_rounds_a_wait_under_half_a_second_up_to_1_s():
    assert cooldown_sentence(0.3) == "You're asking quickly! Please wait 1 s before the next question."


def test_fit_sentence_leaves_a_sentence_within_the_limit_alone():
    assert fit_sentence("https://example.com/a is not a page; add its text instead.", 300) == (
        "https://example.com/a is not a page; add its text instead."
    )


def test_fit_sentence_shortens_a_long_link_and_keeps_the_end_that_says_what_to_do():
    link = "https://example.com/" + "x" * 400
    fitted = fit_sentence(f"{link} is larger than 5 MB; save the article's text as a .txt file.", 120)
    assert len(fitted) <= 120
    assert fitted.startswith("https://example.com/")
    assert fitted.endswith(" is larger than 5 MB; save the article's text as a .txt file.")
    assert "…" in fitted


def test_fit_sentence_cuts_at_the_end_when_shortening_links_is_not_enough():
    fitted = fit_sentence("word " * 100, 50)
    assert (len(fitted), fitted.endswith("…")) == (50, True)
