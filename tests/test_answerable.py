"""The answerability signals and the small-talk rule, on tiny inputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE, WEAPONS

from index import Article, is_small_talk, read_path
from index.rank import Stems, signals
from index.rank.answerable import (
    KEYWORD_LIBRARY,
    NO_CANDIDATES,
    SEARCH_TERMS,
    SIGNAL_NAMES,
    Answerability,
    Candidates,
    Model,
    Signals,
    is_keyword_search,
    name_phrases,
    speaks_of_asker_or_bot,
)
from index.rank.features import analyse, decode_analysis, encode_analysis

ROOT = Path(__file__).resolve().parent.parent
STORM = "A storm hit the coast on Monday. Rescuers said 40 people were rescued from the floods."


@pytest.mark.parametrize(
    "question",
    [
        "hello",
        "Hi there!",
        "thanks a lot, Clippings",
        "What can you do?",
        "<@123> help",
        "how do I use this bot",
    ],
)
def test_greetings_and_questions_about_the_bot_are_small_talk(question):
    assert is_small_talk(question)


@pytest.mark.parametrize(
    "question",
    ["what did Qin say about weapons", "hello kitty lawsuit", "help for flood victims", "thanks to whom"],
)
def test_questions_about_the_news_are_not_small_talk(question):
    assert not is_small_talk(question)


def ask(
    question: str,
    shown: list[str],
    df: dict[str, int],
    passages: int = 100,
    top: float = 5.0,
    found: Candidates = NO_CANDIDATES,
):
    terms = question.casefold().replace("?", "").split()
    idf = {t: 2.0 if df.get(t) else 0.0 for t in terms}
    return signals(question, terms, idf, df, passages, top, shown, Stems(), found)


def test_a_name_no_article_holds_counts_as_missing():
    found = ask("what did Zelensky say", [STORM], {"what": 50, "did": 20, "say": 10})
    assert (found.missing_names, found.missing > 0) == (0.5, True)


def test_a_name_the_library_holds_is_not_missing():
    found = ask("what did Zelensky say", [STORM], {"what": 50, "did": 20, "say": 10, "zelensky": 3})
    assert (found.missing_names, found.missing) == (0.0, 0.0)


def test_rare_terms_in_one_sentence_beat_rare_terms_in_two():
    df = {"storm": 2, "rescued": 2, "floods": 2}
    together = ask("storm rescued floods", ["The storm left people rescued from floods."], df)
    apart = ask("storm rescued floods", ["The storm hit. People were rescued. Floods followed."], df)
    assert together.rare_sentence == 1.0
    assert apart.rare_sentence < together.rare_sentence


def test_a_sentence_holds_a_term_by_its_stem():
    found = ask("rescue", ["People were rescued."], {"rescue": 2})
    assert found.rare_sentence == 1.0


def test_reach_is_the_top_score_over_the_question_idf_mass():
    assert ask("storm floods", [STORM], {"storm": 2, "floods": 2}, top=2.0).reach == 0.5


def test_a_name_the_library_holds_but_no_shown_passage_holds_counts_as_unshown():
    found = ask("what did Zelensky say", [STORM], {"what": 50, "did": 20, "say": 10, "zelensky": 3})
    assert found.unshown_names == 1.0


def test_a_name_the_first_article_title_holds_is_shown():
    df = {"what": 50, "did": 20, "say": 10, "zelensky": 3}
    found = ask("what did Zelensky say", [STORM], df, found=Candidates(title="Zelensky visits the coast"))
    assert found.unshown_names == 0.0


def test_a_name_of_two_words_held_only_apart_counts_as_split():
    df = {"republic": 5, "bank": 5, "first": 9}
    apart = ask("who bought First Republic Bank", ["The first bank sold. The republic voted."], df)
    together = ask("who bought First Republic Bank", ["JPMorgan bought First Republic Bank."], df)
    assert (apart.split_names, together.split_names) == (1.0, 0.0)


def test_name_phrases_leave_out_the_word_that_opens_the_question():
    assert name_phrases("Which New York Times reporter won") == ["new york times"]


def test_the_first_article_holds_what_its_other_candidate_passages_hold():
    df = {"storm": 2, "mayor": 2}
    alone = ask("storm mayor", [STORM], df)
    with_rest = ask("storm mayor", [STORM], df, found=Candidates(same_article=("The mayor thanked them.",)))
    assert (alone.article, with_rest.article) == (0.5, 1.0)


def test_spread_counts_the_articles_the_first_ten_passages_come_from():
    one = ask("storm", [STORM], {"storm": 2}, found=Candidates(articles=("a",) * 10))
    ten = ask("storm", [STORM], {"storm": 2}, found=Candidates(articles=tuple("abcdefghij")))
    assert (one.spread, ten.spread) == (0.0, 1.0)


def test_gap_is_how_far_bm25_falls_from_the_first_candidate_to_the_last():
    found = ask("storm", [STORM], {"storm": 2}, found=Candidates(scores=(10.0, 8.0, 4.0)))
    assert found.gap == pytest.approx(0.6)


@pytest.mark.parametrize(
    "question", ["how do I boil an egg", "can you recommend a good book", "can we be friends", "I'm tired"]
)
def test_a_question_in_the_first_or_second_person_speaks_of_the_asker_or_the_bot(question):
    assert speaks_of_asker_or_bot(question)


@pytest.mark.parametrize(
    "question",
    [
        "When did NASA launch Artemis I?",
        "what did the US say",
        "What did Us Weekly report",
        "who won the vote",
    ],
)
def test_a_numeral_the_country_and_third_person_questions_speak_of_neither(question):
    assert not speaks_of_asker_or_bot(question)


def test_a_question_of_common_words_is_generic_and_one_of_rare_words_is_not():
    # 100 passages: "time" in 50 and "it" in 80 (40 expected to hold both), "storm" and "floods" in 2.
    common = ask("what time is it", [STORM], {"what": 60, "time": 50, "is": 90, "it": 80})
    rare = ask("storm floods", [STORM], {"storm": 2, "floods": 2})
    assert (common.generic > 0.5, rare.generic) == (True, 0.0)


def test_words_the_library_is_about_are_more_topical_than_words_english_uses_everywhere():
    # Both pairs are held by 3 of 100 passages; English writes "people" and "coast" far more often
    # than "rescuers" and "floods", so those are what this library is about.
    story = ask("rescuers floods", [STORM], {"rescuers": 3, "floods": 3})
    everyday = ask("people coast", [STORM], {"people": 3, "coast": 3})
    assert story.topical > everyday.topical


def test_a_word_english_does_not_list_counts_as_the_rarest_english():
    unlisted = ask("zorbulation floods", ["Zorbulation hit the floods."], {"zorbulation": 3, "floods": 3})
    listed = ask("coast floods", [STORM], {"coast": 3, "floods": 3})
    assert unlisted.topical > listed.topical


def test_a_year_is_rated_as_english_writes_years_not_as_a_word_it_lacks():
    year = ask("1969 floods", ["In 1969 the floods came."], {"1969": 3, "floods": 3})
    unlisted = ask("zorbulation floods", ["Zorbulation hit the floods."], {"zorbulation": 3, "floods": 3})
    assert year.topical < unlisted.topical


def test_words_of_another_script_leave_topical_at_zero():
    found = ask("秦刚 武器", ["秦刚 武器"], {"秦刚": 2, "武器": 3})
    assert (found.sentence, found.topical) == (1.0, 0.0)


def test_topical_is_zero_when_no_shown_sentence_holds_a_question_word():
    assert ask("volcano eruption", [STORM], {"volcano": 3, "eruption": 2}).topical == 0.0


def test_signals_from_the_shown_passages_stored_analyses_equal_those_from_their_texts():
    shown = [STORM, "Rescuers said the floods were the worst in years. Aid arrived on Tuesday."]
    df = {"storm": 2, "rescued": 3, "floods": 4, "rescuers": 2}
    found = Candidates(scores=(9.0, 4.0), articles=("1", "2"), title="Storm", same_article=(STORM,))
    stored = [decode_analysis(encode_analysis(analyse(text, Stems()))) for text in shown]
    terms = ["who", "rescued", "people", "from", "the", "floods"]
    idf = {t: 2.0 for t in terms}
    from_texts = signals(
        "who rescued people from the floods", terms, idf, df, 100, 5.0, shown, Stems(), found
    )
    from_stored = signals(
        "who rescued people from the floods", terms, idf, df, 100, 5.0, shown, Stems(), found, stored
    )
    assert from_stored == from_texts


def test_a_passage_whose_analysis_is_missing_is_tokenized_from_its_text():
    shown = ["People were rescued.", "The storm hit the coast."]
    stored = [None, decode_analysis(encode_analysis(analyse(shown[1], Stems())))]
    found = signals(
        "rescue storm",
        ["rescue", "storm"],
        {"rescue": 2.0, "storm": 2.0},
        {"rescue": 2, "storm": 2},
        100,
        5.0,
        shown,
        Stems(),
        NO_CANDIDATES,
        stored,
    )
    assert (found.rare_sentence, found.agreement) == (0.5, 0.5)


def test_signals_are_the_same_whatever_the_process_string_hashes(tmp_path):
    script = (
        "from index.rank import Stems, signals\n"
        "terms = 'storm coast rescuers people rescued floods monday'.split()\n"
        "df = {t: n for n, t in enumerate(terms, start=2)}\n"
        "idf = {t: 1.0 / n for n, t in enumerate(terms, start=3)}\n"
        f"shown = [{STORM!r}, 'Rescuers reached the coast. Floods hit people on Monday.']\n"
        "print(signals(' '.join(terms), terms, idf, df, 1000, 5.0, shown, Stems()))\n"
    )
    printed = [
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    ]
    assert printed[0] == printed[1] == printed[2]


def test_a_question_asked_of_an_empty_library_has_no_signals():
    assert ask("storm", [], {}, passages=0).vector() == [0.0] * len(ask("storm", [], {}, passages=0).vector())


def test_store_marks_a_question_about_the_library_answerable_and_a_general_one_not(store):
    store.add(Article("Storm", STORM), "global")
    store.add(
        Article("Talks", "Qin Gang said China did not provide weapons to Russia. Talks should begin soon."),
        "global",
    )
    answered = store.search("how many people were rescued from the floods", ["global"])
    general = store.search("what is the capital of Australia", ["global"])
    assert (answered.answerable, answered.hits[0].passage.text) == (True, STORM)
    assert (general.answerable, general.hits[0].passage.text) == (False, STORM)


def test_store_decides_with_the_shown_passages_stored_analyses(store):
    store.add(Article("Storm", STORM), "global")
    decide = store.answerability
    handed = []
    store.answerability = lambda *args: handed.append(args[8]) or decide(*args)  # type: ignore[assignment]
    response = store.search("how many people were rescued from the floods", ["global"])
    assert [a.sequences for a in handed[0]] == [analyse(h.passage.text).sequences for h in response.hits]


def test_store_hands_the_decision_the_first_articles_other_passages_analyses_too(store):
    for article in read_path(str(SAMPLE)):
        store.add(article, "global")
    decide = store.answerability
    handed = []
    store.answerability = lambda *args: handed.append(args) or decide(*args)  # type: ignore[assignment]
    first = store.search("what did Qin say about weapons", ["global"], k=10).hits
    same = [h.passage.text for h in first[1:] if h.article.id == first[0].article.id]
    analyses, found = handed[0][8], handed[0][7]
    assert len(same) > 2 and found.same_article == tuple(same)
    assert [a.sequences for a in analyses[3:]] == [analyse(text).sequences for text in same]


def test_the_decision_reuses_the_analyses_the_ranker_decoded(store):
    for article in read_path(str(SAMPLE)):
        store.add(article, "global")
    rank = store.ranker
    given = []

    def ranker(source, question, libraries, hits):
        given.extend(analysis for analysis, _ in source.passage_extras(hits, 0))
        return rank(source, question, libraries, hits)

    ranker.candidates = rank.candidates  # type: ignore[attr-defined]
    store.ranker = ranker
    decide = store.answerability
    handed = []
    store.answerability = lambda *args: handed.append(args[8]) or decide(*args)  # type: ignore[assignment]
    store.search("what did Qin say about weapons", ["global"])
    assert handed[0] and all(any(a is g for g in given) for a in handed[0])


def test_store_never_marks_a_greeting_answerable(store):
    store.add(Article("Greetings", "Hello from the harbour festival, the mayor said."), "global")
    response = store.search("hello", ["global"])
    assert (response.answerable, len(response.hits)) == (False, 1)


def test_a_small_library_answers_what_it_holds_and_not_what_it_lacks(store):
    store.add(Article("Ping", "Someone wrote @everyone come to the town hall meeting tonight."), "global")
    assert store.search("town hall meeting", ["global"]).answerable is True
    assert store.search("which bridge reopened after the flood", ["global"]).answerable is False


def test_a_long_question_about_one_article_is_answerable_though_no_sentence_holds_half_of_it(store):
    for article in read_path(str(SAMPLE)):
        store.add(article, "global")
    question = (
        "What did China's foreign minister Qin Gang say this week about sending weapons to Russia"
        " amid the war in Ukraine?"
    )
    response = store.search(question, ["global"])
    assert (response.answerable, response.hits[0].passage.text.startswith(WEAPONS)) == (True, True)


def test_a_one_word_question_a_small_library_holds_is_answerable(store):
    store.add(Article("Storm", STORM), "global")
    assert store.search("floods", ["global"]).answerable is True


def test_a_one_word_question_is_left_to_the_model_from_the_keyword_library_size_on():
    held = Signals(sentence=1.0)
    refusing = Model(bias=-1.0, **{name: 0.0 for name in SIGNAL_NAMES})
    assert refusing.answerable(held, passages=KEYWORD_LIBRARY - 1, terms=1) is True
    assert refusing.answerable(held, passages=KEYWORD_LIBRARY, terms=1) is False
    assert refusing.answerable(held, passages=KEYWORD_LIBRARY - 1, terms=2) is False


def test_the_cosine_model_decides_when_the_search_brings_the_learned_cosine():
    zero = {name: 0.0 for name in SIGNAL_NAMES}
    judge = Answerability(model=Model(bias=-1.0, **zero), cosine_model=Model(bias=1.0, **zero))
    question = ("storm floods", ["storm", "floods"], {"storm": 2.0}, {"storm": 2}, 500, 5.0, [STORM])
    assert judge(*question) is False
    assert judge(*question, Candidates(cosine=0.5)) is True


@pytest.mark.parametrize(
    "line",
    ["qin weapons", "Ukraine grain deal", "Qin Gang, weapons.", "news about Qin", "秦刚 武器", "何か 武器"],
)
def test_a_few_words_typed_as_a_search_are_a_keyword_search(line):
    assert is_keyword_search(line)


@pytest.mark.parametrize(
    "line",
    [
        "qin weapons?",
        "秦刚 武器？",
        "秦刚说了什么",
        "秦剛はいつ北京に戻った",
        "qin weapons ؟",
        "what did Qin say",
        "Qin said what",
        "what's the weather like",
        "did Qin visit Moscow",
        "didn't Qin visit Moscow",
        "is it raining",
    ],
)
def test_a_question_is_not_a_keyword_search(line):
    assert not is_keyword_search(line)


def test_a_keyword_search_one_sentence_holds_is_answerable_in_a_library_of_any_size():
    refusing = Model(bias=-1.0, **{name: 0.0 for name in SIGNAL_NAMES})
    held = Signals(sentence=1.0)
    assert refusing.answerable(held, passages=100 * KEYWORD_LIBRARY, terms=2, search=True) is True
    assert refusing.answerable(held, passages=100 * KEYWORD_LIBRARY, terms=SEARCH_TERMS, search=True) is True
    assert refusing.answerable(held, passages=100 * KEYWORD_LIBRARY, terms=2, search=False) is False


def test_a_keyword_search_is_left_to_the_model_when_no_sentence_holds_all_its_words():
    refusing = Model(bias=-1.0, **{name: 0.0 for name in SIGNAL_NAMES})
    assert refusing.answerable(Signals(sentence=0.6), passages=1000, terms=2, search=True) is False


def test_a_keyword_search_of_more_than_the_search_terms_is_left_to_the_model():
    refusing = Model(bias=-1.0, **{name: 0.0 for name in SIGNAL_NAMES})
    held = Signals(sentence=1.0)
    assert refusing.answerable(held, passages=1000, terms=SEARCH_TERMS + 1, search=True) is False


def test_a_keyword_search_missing_a_name_or_speaking_of_the_asker_is_left_to_the_model():
    refusing = Model(bias=-1.0, **{name: 0.0 for name in SIGNAL_NAMES})
    assert refusing.answerable(Signals(sentence=1.0, missing_names=0.5), 1000, 2, search=True) is False
    assert refusing.answerable(Signals(sentence=1.0, personal=1.0), 1000, 2, search=True) is False


def test_a_keyword_search_of_common_words_is_left_to_the_model():
    refusing = Model(bias=-1.0, **{name: 0.0 for name in SIGNAL_NAMES})
    assert refusing.answerable(Signals(sentence=1.0, generic=0.4), 1000, 2, search=True) is False


def test_the_decision_treats_words_one_shown_sentence_holds_as_a_search_and_a_question_not():
    judge = Answerability(model=Model(bias=-1.0, **{name: 0.0 for name in SIGNAL_NAMES}))
    df = {"rescued": 3, "floods": 3}
    found = ("rescued floods", ["rescued", "floods"], {"rescued": 2.0, "floods": 2.0}, df, 500, 5.0, [STORM])
    asked = (
        "who rescued floods",
        ["rescued", "floods"],
        {"rescued": 2.0, "floods": 2.0},
        df,
        500,
        5.0,
        [STORM],
    )
    assert (judge(*found), judge(*asked)) == (True, False)
