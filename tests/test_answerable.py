"""The answerability signals and the small-talk rule, on tiny inputs."""

from __future__ import annotations

import pytest

from index import Article, is_small_talk
from index.rank import Stems, signals

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


def ask(question: str, shown: list[str], df: dict[str, int], passages: int = 100, top: float = 5.0):
    terms = question.casefold().replace("?", "").split()
    idf = {t: 2.0 if df.get(t) else 0.0 for t in terms}
    return signals(question, terms, idf, df, passages, top, shown, Stems())


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


def test_store_never_marks_a_greeting_answerable(store):
    store.add(Article("Greetings", "Hello from the harbour festival, the mayor said."), "global")
    response = store.search("hello", ["global"])
    assert (response.answerable, len(response.hits)) == (False, 1)


def test_a_small_library_needs_one_sentence_holding_most_of_the_question(store):
    store.add(Article("Ping", "Someone wrote @everyone come to the town hall meeting tonight."), "global")
    assert store.search("town hall meeting", ["global"]).answerable is True
    assert store.search("which bridge reopened after the flood", ["global"]).answerable is False
