import pytest

from index.ingest.text import (
    normalize_text,
    question_terms,
    split_headline,
    strip_chrome,
    tokenize,
    tokenize_spans,
    without_links,
)


def test_tokenize_casefolds_unicode_words():
    assert tokenize("Qin GANG met Zoë in Zürich") == ["qin", "gang", "met", "zoë", "in", "zürich"]


def test_tokenize_drops_possessive_s_with_either_apostrophe():
    assert tokenize("China’s and Russia's") == ["china", "and", "russia"]


def test_tokenize_keeps_contractions_whole():
    assert tokenize("Beijing didn’t and won't") == ["beijing", "didn't", "and", "won't"]


PERSIAN_WANT = "می\u200cخواهم"
"""Persian "I want", written as Persian writes it: with a zero-width non-joiner after its prefix."""


def test_normalize_keeps_a_zero_width_non_joiner_inside_a_word():
    assert normalize_text(f"او {PERSIAN_WANT} رفت") == f"او {PERSIAN_WANT} رفت"


def test_normalize_keeps_the_joiners_of_an_emoji_sequence():
    assert normalize_text("A family 👨\u200d👩\u200d👧 waved.") == "A family 👨\u200d👩\u200d👧 waved."


def test_normalize_drops_a_joiner_beside_a_space():
    assert normalize_text("The council\u200d voted \u200conce.") == "The council voted once."


def test_tokenize_reads_a_word_through_its_non_joiner():
    assert tokenize(f"او {PERSIAN_WANT}") == tokenize("او میخواهم") == ["او", "میخواهم"]


def test_span_of_a_word_with_a_non_joiner_covers_all_of_it():
    text = f"او {PERSIAN_WANT} رفت"
    assert [(term, text[start:end]) for term, start, end in tokenize_spans(text)] == [
        ("او", "او"),
        ("میخواهم", PERSIAN_WANT),
        ("رفت", "رفت"),
    ]


def test_without_links_drops_pasted_links_of_each_form():
    assert without_links("is this true? https://x.example/a?b=1 <http://y.example/c> www.z.example/d ok") == (
        "is this true? ok"
    )


def test_without_links_keeps_a_question_without_links_as_it_is():
    assert without_links("what did  Qin say, e.g. about www?") == "what did  Qin say, e.g. about www?"


def test_tokenize_keeps_numbers():
    assert tokenize("On February 24, 2022 about 3.5 million") == [
        "on",
        "february",
        "24",
        "2022",
        "about",
        "3",
        "5",
        "million",
    ]


def test_tokenize_makes_chinese_characters_and_their_overlapping_pairs_terms():
    assert tokenize("致命性武器") == ["致", "致命", "命", "命性", "性", "性武", "武", "武器", "器"]


def test_tokenize_splits_japanese_kana_and_kanji_into_characters_and_pairs():
    assert tokenize("東京です") == ["東", "東京", "京", "京で", "で", "です", "す"]


def test_tokenize_ends_an_unspaced_run_at_punctuation_and_latin_words():
    assert tokenize("iPhone手机・新品") == ["iphone", "手", "手机", "机", "新", "新品", "品"]


def test_tokenize_keeps_korean_words_whole():
    assert tokenize("한국어 문장입니다") == ["한국어", "문장입니다"]


def test_tokenize_keeps_hindi_words_whole_with_their_vowel_signs_and_virama():
    assert tokenize("हिन्दी दिवस पर कार्यक्रम") == ["हिन्दी", "दिवस", "पर", "कार्यक्रम"]


def test_tokenize_keeps_tamil_and_bengali_words_whole():
    assert tokenize("தமிழ் மொழி বাংলা ভাষা") == ["தமிழ்", "மொழி", "বাংলা", "ভাষা"]


def test_tokenize_spans_of_chinese_overlap_as_the_terms_do():
    assert list(tokenize_spans("说武器")) == [
        ("说", 0, 1),
        ("说武", 0, 2),
        ("武", 1, 2),
        ("武器", 1, 3),
        ("器", 2, 3),
    ]


def test_question_terms_of_a_chinese_question_hold_its_characters_and_pairs():
    assert question_terms("武器？") == ["武", "武器", "器"]


def test_question_words_do_not_drive_ranking():
    assert question_terms("What did Qin say about weapons?") == ["qin", "say", "weapons"]


def test_question_of_only_question_words_keeps_them():
    assert question_terms("who is who?") == ["who", "is", "who"]


@pytest.mark.parametrize(
    ("question", "without_it"),
    [
        ("秦刚 什么 武器", "秦刚 武器"),
        ("秦刚说了什么", "秦刚说了"),
        ("谁提供了武器", "提供了武器"),
        ("秦刚为什么访问莫斯科", "秦刚 访问莫斯科"),
        ("秦剛は何と言った", "秦剛は と言った"),
        ("誰が武器を提供した", "が武器を提供した"),
        ("秦剛はいつ来た", "秦剛は 来た"),
    ],
    ids=["什么 alone", "什么 in a run", "谁", "为什么", "何", "誰", "いつ"],
)
def test_chinese_and_japanese_question_words_do_not_drive_ranking(question, without_it):
    # Cut out, as an English one is dropped: the characters on either side make no pair.
    assert question_terms(question) == question_terms(without_it)


def test_a_word_that_holds_a_question_word_and_asks_nothing_is_kept():
    assert "任何" in question_terms("秦刚向任何一方提供武器吗")


@pytest.mark.parametrize(
    ("question", "kept"),
    [
        ("何かが起きた", "何か"),
        ("誰もいない", "誰も"),
        ("いつか来る", "いつ"),
        ("米国などの制裁はいつ", "どの"),
    ],
)
def test_japanese_words_that_hold_a_question_word_and_ask_nothing_are_kept(question, kept):
    # 何か is "something", 誰も "nobody", いつか "someday"; the どの of などの ("such as") asks nothing.
    # Their characters stay, so the pair holding the question word is still a term.
    assert kept in question_terms(question)


def test_chinese_question_of_only_question_words_keeps_them():
    assert question_terms("什么？") == ["什", "什么", "么"]


def test_question_without_words_has_no_terms():
    assert question_terms("?! ...") == []


def test_question_terms_drop_invisible_characters_inside_words_as_articles_do():
    # A soft hyphen, zero-width space or joiner pasted from a web page is not a word break.
    assert question_terms("Qin wea\u00adpons\u200b, Ukr\u200bai\u200dne\u2060?") == [
        "qin",
        "weapons",
        "ukraine",
    ]


def test_normalize_drops_invisible_and_control_characters():
    assert normalize_text("Qin\u200b Gang\x00 said\u202e so") == "Qin Gang said so"


def test_normalize_keeps_words_apart_at_a_form_feed_or_vertical_tab():
    assert normalize_text("Page one ends.\x0cPage two\x0bbegins.") == "Page one ends.\nPage two\nbegins."


def test_normalize_tidies_whitespace_and_keeps_paragraphs():
    assert normalize_text("  One\t two  \r\n\r\n\r\n\nThree\xa0four ") == "One two\n\nThree four"


def test_strip_chrome_drops_site_navigation_lines():
    text = (
        "Skip to content Skip to footer\n\nReal text here.\n\nShow CommentsClose Comments\n\nLeave a comment"
    )
    assert strip_chrome(text) == "Real text here."


def test_strip_chrome_keeps_sentences_that_mention_sharing():
    text = "Share prices fell sharply on Monday after the announcement."
    assert strip_chrome(text) == text


def test_strip_chrome_drops_a_paywall_notice():
    text = (
        "The two companies agreed to a merger.\nSubscribe to continue reading. Already a subscriber? Log in."
    )
    assert strip_chrome(text) == "The two companies agreed to a merger."


def test_strip_chrome_keeps_a_sentence_that_mentions_subscribing_to_read():
    text = "She said she would subscribe to continue reading the paper."
    assert strip_chrome(text) == text


def test_strip_chrome_drops_an_audio_players_label():
    assert strip_chrome("Listen to this article 5 min\nThe cranes arrived.") == "The cranes arrived."


def test_split_headline_takes_a_short_first_paragraph():
    assert split_headline("Big News Today\n\nThe body starts here.") == (
        "Big News Today",
        "The body starts here.",
    )


def test_split_headline_reads_a_heading_underlined_with_equals_signs():
    assert split_headline("Rates held\n==========\n\nThe bank kept rates.") == (
        "Rates held",
        "The bank kept rates.",
    )


def test_split_headline_leaves_a_first_sentence_alone():
    text = "The body starts here.\n\nAnd goes on."
    assert split_headline(text) == (None, text)


def test_split_headline_reads_markdown_heading():
    assert split_headline("# Title here\nBody text.") == ("Title here", "Body text.")
