"""The ranking stage after BM25 (index/rank/): one behaviour per test, on tiny texts."""

from __future__ import annotations

import math
import zlib
from dataclasses import fields, replace

import pytest
from conftest import SAMPLE, WEAPONS
from hypothesis import given
from hypothesis import strategies as st

from index import Article, Store, read_path
from index.errors import NotFound
from index.rank import (
    DEFAULT,
    ArticleCache,
    Candidate,
    Ranker,
    Weights,
    answer_types,
    article_terms,
    restate,
    restatements,
    role_phrase,
    scores,
)
from index.rank.features import analyse, casefold, decode_analysis, encode_analysis
from index.rank.stems import Stems
from index.store import SearchReads

NO_ROLES = article_terms("", "")


def order(question: str, terms: list[str], candidates: list[Candidate], weights=DEFAULT) -> list[str]:
    idf = dict.fromkeys(terms, 1.0)
    values = scores(question, terms, idf, candidates, weights)
    ranked = sorted(range(len(candidates)), key=lambda i: (-values[i], i))
    return [candidates[i].text for i in ranked]


def test_answer_types_of_questions():
    assert [
        answer_types("How many people were arrested?"),
        answer_types("When should the peace talks begin"),
        answer_types("Who won the award?"),
        answer_types("What did Qin say about weapons"),
    ] == [frozenset({"number"}), frozenset({"time"}), frozenset({"name"}), frozenset()]


def test_article_links_a_name_to_the_role_noun_beside_it():
    terms = article_terms("Talks", "Qin Gang, China's foreign minister, spoke on Tuesday. Rain fell all day.")
    assert (terms.roles("qin"), terms.roles("rain")) == (frozenset({"minister"}), frozenset())


QIN_ARTICLE = "Qin Gang, China's foreign minister, spoke on Tuesday."
MINISTER = "The foreign minister said China did not provide weapons to Russia."
SERVICE = "The weather service said China did not provide weapons to Russia."


def test_role_noun_stands_in_for_the_name_asked_about():
    article = article_terms("Talks", QIN_ARTICLE)
    candidates = [Candidate(SERVICE, 2.0, 3, article), Candidate(MINISTER, 2.0, 3, article)]
    assert order("what did Qin say about weapons", ["qin", "say", "weapons"], candidates) == [
        MINISTER,
        SERVICE,
    ]


def test_a_question_is_restated_with_the_role_in_place_of_the_name():
    assert restate("what did Qin Gang say about weapons", {"qin", "gang"}, "foreign minister") == (
        "what did the foreign minister say about weapons"
    )


def test_a_restated_question_keeps_the_possessive_and_the_words_before_the_name():
    assert restate("Did Qin's remarks worry Blinken?", {"qin"}, "foreign minister") == (
        "Did the foreign minister's remarks worry Blinken?"
    )


def test_role_phrase_keeps_the_words_between_a_determiner_and_the_role():
    assert (
        role_phrase("Beijing said no. The foreign minister went on to say", "minister") == "foreign minister"
    )


def test_role_phrase_keeps_the_words_after_a_possessive():
    assert (
        role_phrase("Qin Gang, China's Foreign Minister, called for talks", "minister") == "foreign minister"
    )


def test_role_phrase_is_the_bare_role_without_a_determiner_before_it():
    assert role_phrase("He was appointed minister in May.", "minister") == "minister"


def test_restate_keeps_the_words_after_the_name_in_a_title_case_question():
    assert restate("What Did Qin Say About Weapons?", {"qin"}, "foreign minister") == (
        "What Did the foreign minister Say About Weapons?"
    )


def test_restate_replaces_a_title_before_the_name_too():
    assert restate("What did Foreign Minister Qin Gang say", {"qin", "gang"}, "foreign minister") == (
        "What did the foreign minister say"
    )


def test_only_a_passage_that_calls_the_name_by_its_role_gets_a_restated_question():
    article = article_terms("Talks", QIN_ARTICLE)
    candidates = [
        Candidate(MINISTER, 2.0, 3, article),
        Candidate(SERVICE, 2.0, 3, article),
        Candidate("Qin said China did not provide weapons.", 2.0, 3, article),
    ]
    found = restatements("what did Qin say about weapons", ["qin", "say", "weapons"], candidates)
    assert found == [["what did the foreign minister say about weapons"], [], []]


def test_without_attribution_the_role_noun_gets_no_credit():
    article = article_terms("Talks", QIN_ARTICLE)
    candidates = [Candidate(SERVICE, 2.0, 3, article), Candidate(MINISTER, 2.0, 3, article)]
    weights = replace(DEFAULT, attribution=False)
    assert order("what did Qin say about weapons", ["qin", "say", "weapons"], candidates, weights) == [
        SERVICE,
        MINISTER,
    ]


def test_a_name_held_through_a_role_noun_counts_in_the_bm25_feature():
    off = {f.name: 0.0 for f in fields(Weights) if f.type in ("float", float)}
    only_bm25 = Weights(**{**off, "bm25": 1.0})
    article = article_terms("Talks", QIN_ARTICLE)
    candidates = [Candidate(SERVICE, 2.0, 3, article), Candidate(MINISTER, 2.0, 3, article)]
    idf = {"qin": 1.0, "say": 1.0, "weapons": 1.0}
    values = scores("what did Qin say about weapons", ["qin", "say", "weapons"], idf, candidates, only_bm25)
    assert [round(v, 6) for v in values] == [round(math.log1p(2.0), 6), round(math.log1p(3.0), 6)]


def test_a_role_noun_is_stronger_evidence_than_the_text_before_a_pronoun():
    article = article_terms("Talks", QIN_ARTICLE)
    pronoun = "He said China did not provide weapons to Russia."
    candidates = [
        Candidate(pronoun, 2.0, 3, article, previous="Qin spoke in Beijing."),
        Candidate(MINISTER, 2.0, 3, article),
    ]
    assert order("what did Qin say about weapons", ["qin", "say", "weapons"], candidates) == [
        MINISTER,
        pronoun,
    ]


def test_a_term_in_the_previous_passage_counts_as_present():
    alone = "However, the relations are not an alliance."
    after = "The relations are not an alliance, officials added."
    candidates = [
        Candidate(alone, 2.0, 5, NO_ROLES),
        Candidate(after, 2.0, 5, NO_ROLES, previous="China and Russia praised their relations."),
    ]
    assert order("are China and Russia an alliance?", ["china", "russia", "alliance"], candidates) == [
        after,
        alone,
    ]


def test_stemmed_words_count_towards_coverage():
    surrendered = "The army surrendered its weapons on the bridge."
    other = "The army parade crossed the bridge."
    candidates = [Candidate(other, 2.0, 2, NO_ROLES), Candidate(surrendered, 2.0, 2, NO_ROLES)]
    assert order("did the army surrender", ["the", "army", "surrender"], candidates) == [surrendered, other]


def test_an_irregular_past_form_counts_for_its_verb():
    said = "The mayor said the bridge will reopen."
    other = "The mayor visited the bridge."
    candidates = [Candidate(other, 2.0, 2, NO_ROLES), Candidate(said, 2.0, 2, NO_ROLES)]
    assert order("what did the mayor say", ["the", "mayor", "say"], candidates) == [said, other]


def test_how_many_prefers_a_passage_with_a_new_number():
    count = "Police said 1,000 protesters were arrested in the capital."
    vague = "Police said protesters were arrested in the capital."
    candidates = [Candidate(vague, 2.0, 2, NO_ROLES), Candidate(count, 2.0, 2, NO_ROLES)]
    assert order("How many protesters were arrested", ["many", "protesters", "arrested"], candidates) == [
        count,
        vague,
    ]


def test_which_show_prefers_a_passage_with_a_quoted_title():
    titled = "The award for best drama went to “Night Harbour” on Monday."
    vague = "The award for best drama went to a newcomer on Monday."
    candidates = [Candidate(vague, 2.0, 2, NO_ROLES), Candidate(titled, 2.0, 2, NO_ROLES)]
    assert order(
        "Which show won the award for best drama?", ["show", "won", "award", "best", "drama"], candidates
    ) == [
        titled,
        vague,
    ]


def test_an_early_passage_beats_a_late_one_on_equal_terms():
    candidates = [
        Candidate("Late news about the dam.", 2.0, 9, NO_ROLES),
        Candidate("Dam news.", 2.0, 0, NO_ROLES),
    ]
    assert order("dam news", ["dam", "news"], candidates) == ["Dam news.", "Late news about the dam."]


DAM_OLD = "The dam opened on the river."
DAM_NEW = "The dam opened by the river."


def test_a_newer_article_beats_an_older_one_on_equal_terms():
    candidates = [
        Candidate(DAM_OLD, 2.0, 0, NO_ROLES, published="2023-01-02"),
        Candidate(DAM_NEW, 2.0, 0, NO_ROLES, published="2023-03-01"),
    ]
    assert order("dam opened", ["dam", "opened"], candidates) == [DAM_NEW, DAM_OLD]


def test_freshness_counts_from_the_newest_candidate_not_from_today():
    recent = [
        Candidate(DAM_OLD, 2.0, 0, NO_ROLES, published="2025-06-01"),
        Candidate(DAM_NEW, 2.0, 0, NO_ROLES, published="2025-06-08"),
    ]
    old = [replace(recent[0], published="2003-06-01"), replace(recent[1], published="2003-06-08")]
    idf = {"dam": 1.0, "opened": 1.0}
    assert scores("dam opened", ["dam", "opened"], idf, old, DEFAULT) == scores(
        "dam opened", ["dam", "opened"], idf, recent, DEFAULT
    )


def test_an_undated_article_is_neither_favoured_nor_pushed_aside():
    candidates = [
        Candidate(DAM_OLD, 2.0, 0, NO_ROLES, published="2023-01-02"),
        Candidate(DAM_NEW, 2.0, 0, NO_ROLES, published="2023-03-01"),
        Candidate("The dam opened near the river.", 2.0, 0, NO_ROLES, published=None),
    ]
    assert order("dam opened", ["dam", "opened"], candidates) == [
        DAM_NEW,
        "The dam opened near the river.",
        DAM_OLD,
    ]


def test_proximity_counts_terms_within_one_sentence_only():
    off = {f.name: 0.0 for f in fields(Weights) if f.type in ("float", float)}
    only_proximity = Weights(**{**off, "proximity": 1.0})
    apart = Candidate("The dam is old. Floods came.", 2.0, 0, NO_ROLES)
    together = Candidate("The dam floods came late.", 2.0, 0, NO_ROLES)
    idf = {"dam": 1.0, "floods": 1.0}
    assert scores("dam floods", ["dam", "floods"], idf, [apart, together], only_proximity) == [0.5, 1.0]


def test_a_passage_shown_twice_is_shown_once(tmp_path):
    article = Article(title="Tolls", text="The harbour tolls rise to 4 dollars on Monday, the port said.")
    with Store(tmp_path / "c.db") as store:
        store.add(article, "one")
        store.add(replace(article, title="Tolls again"), "two")
        texts = [h.passage.text for h in store.search("harbour tolls", ["one", "two"]).hits]
    assert texts == ["The harbour tolls rise to 4 dollars on Monday, the port said."]


def test_ranker_off_keeps_both_copies(tmp_path):
    article = Article(title="Tolls", text="The harbour tolls rise to 4 dollars on Monday, the port said.")
    with Store(tmp_path / "c.db", ranker=None) as store:
        store.add(article, "one")
        store.add(replace(article, title="Tolls again"), "two")
        titles = [h.article.title for h in store.search("harbour tolls", ["one", "two"]).hits]
    assert titles == ["Tolls", "Tolls again"]


def test_ranker_only_reorders_what_bm25_found(tmp_path):
    with Store(tmp_path / "c.db", ranker=None) as plain:
        plain.add(next(iter(read_path(str(SAMPLE)))), "global")
        found = {h.passage.text for h in plain.search("peace talks", ["global"], k=40).hits}
    with Store(tmp_path / "c.db", ranker=Ranker(DEFAULT, learned=None)) as ranked:
        shown = [h.passage.text for h in ranked.search("peace talks", ["global"], k=40).hits]
    assert (set(shown) <= found, len(shown)) == (True, len(found))


def test_qin_sample_weapons_question_ranks_the_foreign_minister_passage_first(tmp_path):
    others = [
        Article(
            title="Arms fair", text="Dealers say weapons sales rose at the arms fair in Paris this year."
        ),
        Article(
            title="Depot theft", text="Officials say weapons were stolen from a depot in Ohio on Sunday."
        ),
    ]
    with Store(tmp_path / "c.db") as store:
        store.add(next(iter(read_path(str(SAMPLE)))), "global")
        for article in others:
            store.add(article, "global")
        first = store.search("what did Qin say about weapons", ["global"]).hits[0]
    assert first.passage.text.startswith(WEAPONS)


def test_the_article_cache_keeps_within_its_character_budget(tmp_path, monkeypatch):
    articles = ArticleCache(chars=200)
    with Store(tmp_path / "c.db", ranker=Ranker(articles=articles)) as store:
        for i in range(4):
            store.add(Article(title=f"Dam {i}", text=f"The dam number {i} was opened today. " * 3), "global")
        store.search("dam opened", ["global"], k=4)
    assert (len(articles), articles.chars <= 200) == (1, True)


def test_a_date_after_tomorrow_counts_as_undated():
    off = {f.name: 0.0 for f in fields(Weights) if f.type in ("float", float)}
    only_fresh = Weights(**{**off, "fresh": 1.0})
    candidates = [
        Candidate(DAM_OLD, 2.0, 0, NO_ROLES, published="2023-01-01"),
        Candidate(DAM_NEW, 2.0, 0, NO_ROLES, published="2023-01-15"),
        Candidate("The dam opened near the river.", 2.0, 0, NO_ROLES, published="2999-01-01"),
    ]
    values = scores("dam opened", ["dam", "opened"], {"dam": 1.0, "opened": 1.0}, candidates, only_fresh)
    assert [round(v, 6) for v in values] == [
        round(math.exp(-1), 6),
        1.0,
        round((math.exp(-1) + 1.0) / 2, 6),
    ]


# -- the analysis stored with each passage (made once, not per question) ----------------------------


def test_stored_analysis_reads_back_as_it_was_made():
    text = 'He said "Blue Moon" won in 2021.\n\nThe minister’s "x" talks ended.  Qin left.'
    made = analyse(text, Stems(irregular=True))
    assert decode_analysis(encode_analysis(made)) == made
    assert decode_analysis(encode_analysis(analyse(text))) == analyse(text)  # no stems: None kept


def test_analysis_of_another_version_is_ignored():
    blob = encode_analysis(analyse("Qin spoke."))
    other = zlib.compress(zlib.decompress(blob).replace(b"1", b"0", 1), 1)
    assert decode_analysis(other) is None and decode_analysis(None) is None


def test_stored_analyses_rank_as_analysing_at_question_time():
    article = article_terms("Talks", QIN_ARTICLE)
    texts = [SERVICE, MINISTER, "Qin said in 2019 that 40 officials met.", "Rain fell on Beijing."]
    question, terms = "When did Qin say how many officials met", ["qin", "say", "many", "officials", "met"]
    fresh = [Candidate(t, 2.0, 3, article) for t in texts]
    stored = [
        Candidate(t, 2.0, 3, article, analysis=decode_analysis(encode_analysis(analyse(t, Stems()))))
        for t in texts
    ]
    assert order(question, terms, stored) == order(question, terms, fresh)


def test_added_passages_carry_their_analysis(store):
    article = next(iter(read_path(str(SAMPLE))))
    added = store.add(article, "global")
    hits = store.search("what did Qin say about weapons", ["global"], k=40).hits
    extras = store.passage_extras(hits, 300)
    text = store.article_text("global", added.article.id)
    assert added.article.passage_count > 1 and len(extras) == len(hits) > 1
    for hit, (analysis, previous) in zip(hits, extras, strict=True):
        assert analysis == analyse(hit.passage.text, Stems())
        assert previous == text[max(0, hit.passage.start - 300) : hit.passage.start]


def test_a_search_reads_its_articles_texts_only_with_its_hits(store, monkeypatch):
    store.add(next(iter(read_path(str(SAMPLE)))), "global")
    reads = []
    read = store.db.article_text
    monkeypatch.setattr(store.db, "article_text", lambda *args: reads.append(args) or read(*args))
    store.ranker = Ranker()
    store.search("what did Qin say about weapons", ["global"])  # a name: is it in the article?
    assert reads == []


class ExtrasSeen:
    """A ranker that keeps the order and records what its source gives for the hits."""

    candidates = 40

    def __call__(self, source, question, libraries, hits):
        self.hits, self.extras = hits, source.passage_extras(hits, 300)
        return hits


def test_a_search_gives_the_ranker_the_extras_the_database_gives(store):
    store.add(next(iter(read_path(str(SAMPLE)))), "global")
    store.ranker = seen = ExtrasSeen()
    store.search("what did Qin say about weapons", ["global"])
    assert len(seen.hits) > 1 and seen.extras == store.passage_extras(seen.hits, 300)


def test_a_search_view_reads_through_the_store_what_its_search_did_not_read(store):
    added = store.add(next(iter(read_path(str(SAMPLE)))), "global")
    hits = store.search("what did Qin say about weapons", ["global"], k=5).hits
    unread = SearchReads(store, ["global"])
    assert unread.passage_extras(hits, 300) == store.passage_extras(hits, 300)
    assert unread.article_text("global", added.article.id) == store.article_text("global", added.article.id)


def test_a_search_view_gives_an_article_it_read_only_for_its_library(store):
    added = store.add(next(iter(read_path(str(SAMPLE)))), "global")
    reads = SearchReads(store, ["global"])
    reads.read([1])
    assert reads.article_text("global", added.article.id) == store.article_text("global", added.article.id)
    with pytest.raises(NotFound):
        reads.article_text("elsewhere", added.article.id)


def test_a_ranker_kept_across_stores_reads_articles_through_the_open_one(tmp_path):
    ranker = Ranker()
    db = tmp_path / "a.db"
    with Store(db, ranker=ranker) as first:
        first.add(next(iter(read_path(str(SAMPLE)))), "global")
        first.search("what did the minister say about weapons", ["global"])  # articles kept, not read
    with Store(db, ranker=ranker) as second:
        hits = second.search("what did Qin say about weapons", ["global"]).hits
    assert hits[0].passage.text.startswith(WEAPONS)


@given(st.text())
def test_fast_casefold_is_casefold(text):
    assert casefold(text) == text.casefold()


def test_fast_casefold_is_casefold_of_a_lone_surrogate():
    assert casefold("A\ud800B") == "a\ud800b"


def test_fast_casefold_is_casefold_beside_every_character():
    every = "".join(chr(c) for c in range(0x80, 0x110000) if not 0xD800 <= c < 0xE000)
    assert casefold("The “Straße”, ΣΑΣ: " + every) == ("The “Straße”, ΣΑΣ: " + every).casefold()


def test_the_article_cache_takes_a_title_corrected_in_place_by_another_store(tmp_path):
    text = "The council approved the budget on Monday after a long debate about the harbour."
    with Store(tmp_path / "c.db") as bot, Store(tmp_path / "c.db") as cli:
        cli.add(Article(title="Vote", text=text, url="https://x.test/v"), "global")
        cli.add(
            Article(
                title="Ferry", text="The harbour ferry budget was cut on Friday.", url="https://x.test/f"
            ),
            "global",
        )
        bot.search("budget harbour", ["global"])  # the bot's ranker keeps both articles' titles
        cli.add(Article(title="Budget vote", text=text, url="https://x.test/v"), "global")
        hit = next(
            h for h in bot.search("budget harbour", ["global"]).hits if h.article.url == "https://x.test/v"
        )
        assert isinstance(bot.ranker, Ranker)
        assert bot.ranker.articles.get(bot, ["global"], hit).title == frozenset({"budget", "vote"})
