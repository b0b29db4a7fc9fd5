"""Other word forms as first-stage candidates (Store(word_forms=True))."""

from __future__ import annotations

from index import Article, Store
from index.rank.forms import WordForms


def test_other_forms_share_the_question_terms_stem():
    forms = WordForms()
    forms.take([(1, "floods"), (2, "flooding"), (3, "flooded"), (4, "layoffs")])
    assert sorted(forms.other_forms(["floods"], [1])) == [2, 3]


def test_terms_taken_again_are_not_counted_twice():
    forms = WordForms()
    forms.take([(1, "floods"), (2, "flooding")])
    forms.take([(1, "floods"), (2, "flooding")])
    assert forms.other_forms(["floods"], [1]) == [2]


def test_an_article_in_another_word_form_becomes_a_candidate(tmp_path):
    fillers = [
        Article(title=f"Note {i}", text=f"Note {i} on floods of mail and parcels. " * 2) for i in range(45)
    ]
    storm = Article(title="Storm", text="The flooding began when the river burst its banks.")
    with Store(tmp_path / "c.db") as plain, Store(tmp_path / "c.db", word_forms=True) as forms:
        for article in [*fillers, storm]:
            plain.add(article, "global")
        exact = [h.article.title for h in plain.search("floods", ["global"], k=50).hits]
        with_forms = [h.article.title for h in forms.search("floods", ["global"], k=50).hits]
    assert ("Storm" in exact, "Storm" in with_forms) == (False, True)
