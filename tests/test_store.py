import dataclasses
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import HI_DAY, MULTILINGUAL, SAMPLE, WEAPONS, ZH_RAIN, ZH_WEAPONS

from index import Article, BadInput, DatabaseError, NoSearchableWords, NotFound, Store, read_path
from index.ingest.passages import make_passages


def sample() -> Article:
    return next(iter(read_path(str(SAMPLE))))


def article(title: str, text: str, url: str | None = None) -> Article:
    return Article(title=title, text=text, url=url)


def test_weapons_passage_ranks_first(store):
    store.add(sample(), "global")
    response = store.search("what did Qin say about weapons", ["global"])
    assert response.hits[0].passage.text.startswith(WEAPONS)


def test_a_chinese_question_word_does_not_rank_a_passage_that_holds_it_first(store):
    for zh in (ZH_WEAPONS, ZH_RAIN):
        store.add(zh, "global")
    store.add(article("记者会", "记者问发言人什么时候公布结果，发言人说还不知道是什么原因。"), "global")
    assert store.search("秦刚说了什么", ["global"]).hits[0].article.title == ZH_WEAPONS.title


def test_every_passage_is_the_original_text_at_its_own_sentences(store):
    art = sample()
    original = art.text
    stored = store.add(art, "global").article
    passages = store.passages("global", stored.id)
    # Expected from the original text and the splitter, not from the offsets the store kept.
    expected = [(s.start, s.end, original[s.start : s.end]) for s in make_passages(original)]
    assert [(p.start, p.end, p.text) for p in passages] == expected
    assert passages[0].text.startswith("Qin Gang, China’s Foreign Minister has called for peace talks")
    assert passages[4].text.startswith(WEAPONS)


def test_hit_carries_offsets_terms_and_article(store):
    store.add(
        article("Budget", "The council approved the budget on Monday.", "https://x.test/b"),
        "global",
    )
    hit = store.search("budget council", ["global"]).hits[0]
    assert (hit.article.title, hit.article.url, hit.matched_terms) == (
        "Budget",
        "https://x.test/b",
        ("budget", "council"),
    )
    assert (hit.passage.start, hit.passage.end, hit.passage.index) == (0, 42, 0)


def test_same_text_twice_is_stored_once(store):
    first = store.add(sample(), "global")
    second = store.add(sample(), "global")
    assert (first.status, second.status, second.article.id) == (
        "added",
        "unchanged",
        first.article.id,
    )
    assert store.count_articles("global") == 1


def test_an_article_dated_in_the_future_is_refused_and_not_stored(store):
    late = Article(title="Late", text="The council approved the budget on Monday.", published="9999-12-31")
    with pytest.raises(BadInput) as refused:
        store.add(late, "global")
    assert str(refused.value) == (
        "'9999-12-31' is in the future; write the date the article was published in the record, as YYYY-MM-DD."
    )
    assert store.count_articles("global") == 0


VOTE = "The council approved the budget on Monday after a long debate about the harbour."


def passage_rows(store: Store) -> list[tuple]:
    return store.db.conn.execute("SELECT id, article_id, seq, start, end, terms FROM passages").fetchall()


def test_same_link_and_text_with_another_date_updates_the_date_in_place(store):
    first = store.add(
        Article(title="Vote", text=VOTE, url="https://x.test/v", published="2024-01-01"), "global"
    )
    passages, changes = passage_rows(store), store.db.latest_change()
    again = store.add(
        Article(title="Vote", text=VOTE, url="https://x.test/v", published="2024-05-02"), "global"
    )
    assert (again.status, again.article.id, again.article.published) == (
        "updated",
        first.article.id,
        "2024-05-02",
    )
    # Only the fields change: the passages (their ids too) and the change log stay as they were.
    assert (passage_rows(store), store.db.latest_change()) == (passages, changes)


def test_same_link_and_text_with_another_title_author_and_site_updates_them(store):
    store.add(Article(title="Vote", text=VOTE, url="https://x.test/v"), "global")
    again = store.add(
        Article(
            title="Budget vote", text=VOTE, url="https://x.test/v", author="Ana Ruiz", site="Harbour News"
        ),
        "global",
    )
    got = again.article
    assert (again.status, got.title, got.author, got.site) == (
        "updated",
        "Budget vote",
        "Ana Ruiz",
        "Harbour News",
    )


def test_same_link_text_and_fields_is_unchanged(store):
    given = Article(title="Vote", text=VOTE, url="https://x.test/v", published="2024-01-01", author="Ana")
    store.add(dataclasses.replace(given), "global")
    assert store.add(dataclasses.replace(given), "global").status == "unchanged"


def test_a_field_left_out_when_added_again_keeps_its_stored_value(store):
    store.add(
        Article(title="Vote", text=VOTE, source="v.txt", published="2024-01-01", author="Ana"), "global"
    )
    again = store.add(Article(title="Vote", text=VOTE, source="v.txt"), "global")
    assert (again.status, again.article.published, again.article.author) == ("unchanged", "2024-01-01", "Ana")


def test_same_text_from_the_same_source_with_another_title_corrects_the_title(store):
    first = store.add(Article(title="Vote", text=VOTE, source="v.txt"), "global")
    again = store.add(Article(title="Budget vote", text=VOTE, source="v.txt"), "global")
    assert (again.status, again.article.id, again.article.title) == (
        "updated",
        first.article.id,
        "Budget vote",
    )
    assert store.count_articles("global") == 1


def test_same_text_from_the_same_source_with_a_link_gives_it_that_link(store):
    store.add(Article(title="Vote", text=VOTE, source="v.txt"), "global")
    again = store.add(Article(title="Vote", text=VOTE, source="v.txt", url="https://x.test/v"), "global")
    assert (again.status, again.article.url) == ("updated", "https://x.test/v")


def test_same_text_from_another_source_under_another_title_is_stored_once_as_it_was(store):
    first = store.add(Article(title="Vote", text=VOTE, source="v.txt", published="2024-01-01"), "global")
    copy = store.add(Article(title="Copy", text=VOTE, source="copy.txt", published="2024-05-02"), "global")
    assert (copy.status, copy.article) == ("unchanged", first.article)


def test_same_text_under_another_link_is_stored_once_as_it_was(store):
    first = store.add(Article(title="Vote", text=VOTE, url="https://x.test/v", source="v.txt"), "global")
    copy = store.add(Article(title="Copy", text=VOTE, url="https://y.test/copy", source="v.txt"), "global")
    assert (copy.status, copy.article) == ("unchanged", first.article)


def test_same_text_with_the_link_of_another_article_changes_neither(store):
    vote = store.add(Article(title="Vote", text=VOTE, source="v.txt"), "global")
    other = store.add(
        Article(title="Other", text="The ferry strike ended on Friday.", url="https://x.test/o"), "global"
    )
    again = store.add(Article(title="Vote", text=VOTE, source="v.txt", url="https://x.test/o"), "global")
    assert (again.status, again.article) == ("unchanged", vote.article)
    assert store.get_article("global", other.article.id) == other.article


def test_same_text_as_new_corrects_nothing(store):
    first = store.add(
        Article(title="Vote", text=VOTE, url="https://x.test/v", published="2024-01-01"), "global"
    )
    again = store.add(
        Article(title="Vote", text=VOTE, url="https://x.test/v", published="2024-05-02"),
        "global",
        as_new=True,
    )
    assert (again.status, again.article) == ("unchanged", first.article)


def test_a_second_store_on_the_same_file_sees_the_corrected_title_and_date(db_path):
    with Store(db_path) as bot, Store(db_path) as cli:
        cli.add(Article(title="Vote", text=VOTE, url="https://x.test/v", published="2024-01-01"), "global")
        before = bot.search("budget harbour", ["global"]).hits[0].article
        cli.add(
            Article(title="Budget vote", text=VOTE, url="https://x.test/v", published="2024-05-02"), "global"
        )
        after = bot.search("budget harbour", ["global"]).hits[0].article
        assert (before.title, before.published) == ("Vote", "2024-01-01")
        assert (after.id, after.title, after.published) == (before.id, "Budget vote", "2024-05-02")
        assert [a.title for a in bot.list_articles("global")] == ["Budget vote"]


def test_a_store_opened_after_the_correction_reads_the_corrected_title(db_path):
    with Store(db_path) as cli:
        cli.add(Article(title="Vote", text=VOTE, url="https://x.test/v"), "global")
        cli.add(Article(title="Budget vote", text=VOTE, url="https://x.test/v"), "global")
    with Store(db_path) as bot:
        assert bot.search("budget harbour", ["global"]).hits[0].article.title == "Budget vote"


def test_same_url_with_new_text_updates_the_article(store):
    old = store.add(article("Vote", "The vote was delayed until Friday.", "https://x.test/v"), "global")
    new = store.add(
        article("Vote", "The vote passed on Friday by a wide margin.", "https://x.test/v"), "global"
    )
    assert (new.status, new.article.id, store.count_articles("global")) == (
        "updated",
        old.article.id,
        1,
    )
    assert store.search("delayed", ["global"]).hits == []
    assert (
        store.search("margin", ["global"]).hits[0].passage.text
        == "The vote passed on Friday by a wide margin."
    )


def test_same_article_in_two_libraries_is_two_articles(store):
    store.add(sample(), "1")
    store.add(sample(), "2")
    assert (store.count_articles("1"), store.count_articles("2")) == (1, 1)


def test_search_reads_only_the_named_libraries(store):
    store.add(article("Secret", "The guild one plans a picnic by the river."), "guild-1")
    store.add(article("Public", "The river flooded the town."), "global")
    titles = [h.article.title for h in store.search("river picnic", ["global"]).hits]
    assert titles == ["Public"]


def test_article_of_another_library_is_not_found(store):
    stored = store.add(sample(), "guild-1").article
    with pytest.raises(NotFound):
        store.get_article("guild-2", stored.id)
    with pytest.raises(NotFound):
        store.remove("guild-2", stored.id)
    assert store.count_articles("guild-1") == 1


def test_removed_article_is_no_longer_found(store):
    stored = store.add(sample(), "global").article
    store.remove("global", stored.id)
    assert store.search("weapons", ["global"]).hits == []
    assert store.count_articles("global") == 0


def test_failed_add_stores_nothing(store, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk trouble")

    monkeypatch.setattr(store.db, "_term_ids", explode)
    with pytest.raises(RuntimeError):
        store.add(sample(), "global")
    counts = [
        store.db.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for t in ("articles", "passages", "changes")
    ]
    assert counts == [0, 0, 0]


def test_second_store_on_the_same_file_sees_new_articles(db_path):
    with Store(db_path) as bot, Store(db_path) as cli:
        assert bot.search("weapons", ["global"]).hits == []
        cli.add(sample(), "global")
        assert bot.search("weapons", ["global"]).hits[0].passage.text.startswith(WEAPONS)
        cli.remove("global", "1")
        assert bot.search("weapons", ["global"]).hits == []


def test_reopened_store_searches_what_was_stored(db_path):
    with Store(db_path) as first:
        first.add(sample(), "global")
        expected = first.search("invisible hand", ["global"])
    with Store(db_path) as second:
        again = second.search("invisible hand", ["global"])
    assert [(h.passage.start, h.score) for h in again.hits] == [
        (h.passage.start, h.score) for h in expected.hits
    ]


def test_database_uses_wal_and_a_busy_timeout(store):
    assert store.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_foreign_database_is_refused_and_left_alone(db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    before = db_path.read_bytes()
    with pytest.raises(DatabaseError, match="is a database of another program"):
        Store(db_path)
    assert db_path.read_bytes() == before


def test_corrupt_file_is_refused_and_left_alone(db_path):
    db_path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(DatabaseError, match="is not a readable Clippings database"):
        Store(db_path)
    assert db_path.read_bytes() == b"this is not sqlite at all" * 100


def test_settings_are_kept_per_library(store):
    store.set_setting("guild-1", "newsroom_channel", "42")
    assert (
        store.get_setting("guild-1", "newsroom_channel"),
        store.get_setting("guild-2", "newsroom_channel"),
    ) == ("42", None)
    store.set_setting("guild-1", "newsroom_channel", None)
    assert store.get_setting("guild-1", "newsroom_channel") is None


def test_settings_lists_the_keys_of_a_library_that_start_with_a_prefix(store):
    store.set_setting("guild-1", "newsroom_post:2", "b")
    store.set_setting("guild-1", "newsroom_post:1", "a")
    store.set_setting("guild-1", "newsroomXpost:3", "c")  # "_" is no wildcard
    store.set_setting("guild-1", "newsroom_channel", "42")
    store.set_setting("guild-2", "newsroom_post:4", "d")
    assert store.settings("guild-1", "newsroom_post:") == {"newsroom_post:1": "a", "newsroom_post:2": "b"}


def test_context_passages_are_neighbours(store):
    stored = store.add(sample(), "global").article
    around = store.passages("global", stored.id, 3, 5)
    assert [p.index for p in around] == [3, 4, 5]


def test_term_idf_is_bm25okapi_idf_of_the_named_libraries(store):
    store.add(article("A", "The river flooded the town."), "global")
    store.add(article("B", "The harbour reopened."), "global")
    store.add(article("C", "A river cruise."), "guild")
    idf = store.term_idf(["global"], ["river", "harbour", "unknown"])
    # BM25Okapi over 2 passages: log(2 - 1 + 0.5) - log(1 + 0.5) = 0 for a term in one of them.
    assert idf == {"river": 0.0, "harbour": 0.0, "unknown": 0.0}
    assert store.term_idf(["global", "guild"], ["harbour"])["harbour"] > 0


def test_a_known_terms_id_is_looked_up_in_the_database_once(store, monkeypatch):
    store.add(sample(), "global")
    asked: list[list[str]] = []
    lookup = store.db.known_term_ids
    monkeypatch.setattr(store.db, "known_term_ids", lambda terms: asked.append(terms) or lookup(terms))
    first = store.search("what did Qin say about weapons", ["global"]).hits
    second = store.search("what did Qin say about weapons", ["global"]).hits
    assert (len(asked), second[0].passage.text[: len(WEAPONS)]) == (1, WEAPONS)
    assert [h.passage.text for h in second] == [h.passage.text for h in first]


def test_a_term_no_article_held_is_found_once_an_article_holds_it(store):
    assert store.search("zeppelin", ["global"]).hits == []
    store.add(Article(title="Airships", text="A zeppelin flew over the harbour on Sunday."), "global")
    assert [h.article.title for h in store.search("zeppelin", ["global"]).hits] == ["Airships"]


def test_passage_terms_are_the_stored_terms(store):
    stored = store.add(article("A", "China’s minister didn't say much."), "global").article
    assert store.passage_terms([(stored.id, 0)]) == {
        (stored.id, 0): frozenset({"china", "minister", "didn't", "say", "much"})
    }


def test_paging_past_the_reranked_candidates_never_repeats(store):
    for n in range(60):
        store.add(article(f"Story {n}", f"The harbour story number {n} tells about harbour {n}."), "global")
    shown = []
    for offset in range(0, 60, 5):
        shown += [
            h.passage.article_id for h in store.search("harbour story", ["global"], k=5, offset=offset).hits
        ]
    assert len(shown) == 60
    assert len(set(shown)) == 60


def test_interrupted_refresh_is_replayed(db_path, monkeypatch):
    with Store(db_path) as reader, Store(db_path) as writer:
        reader.search("weapons", ["global"])
        writer.add(sample(), "global")
        real = reader._flush_adds

        def interrupted(pending):
            if pending:
                raise KeyboardInterrupt
            real(pending)

        monkeypatch.setattr(reader, "_flush_adds", interrupted)
        with pytest.raises(KeyboardInterrupt):
            reader.search("weapons", ["global"])
        monkeypatch.setattr(reader, "_flush_adds", real)
        assert reader.search("weapons", ["global"]).hits[0].passage.text.startswith(WEAPONS)


def test_opening_waits_for_another_process_that_holds_the_file(db_path):
    holder = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(0.5, lambda: holder.execute("COMMIT")).start()
    with Store(db_path) as opened:
        assert opened.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    holder.close()


def test_a_question_typed_without_the_non_joiner_quotes_the_word_as_written(store):
    want = "می\u200cخواهیم"
    text = f"وزیر گفت ما صلح {want} و جنگ را پایان می\u200cدهیم. این سخنان در تهران بیان شد و بازتاب گسترده داشت."
    store.add(article("صلح", text), "global")
    hit = store.search("میخواهیم صلح", ["global"]).hits[0]
    assert hit.passage.text == text


def test_the_same_text_with_and_without_non_joiners_is_stored_once(store):
    text = "وزیر گفت ما صلح می\u200cخواهیم و جنگ را پایان می\u200cدهیم. این سخنان در تهران بیان شد و بازتاب گسترده داشت."
    store.add(article("صلح", text), "global")
    again = store.add(article("صلح", text.replace("\u200c", "")), "global")
    assert (again.status, store.count_articles("global")) == ("unchanged", 1)


def test_a_question_with_a_pasted_link_is_answered_as_without_it(store):
    store.add(sample(), "global")
    response = store.search(
        "what did Qin say about weapons https://www.news.example/2023/03/07/china/qin-gang/index.html",
        ["global"],
    )
    assert response.answerable
    assert response.hits[0].passage.text.startswith(WEAPONS)


def test_a_question_that_is_only_a_link_is_asked_for_in_words(store):
    store.add(sample(), "global")
    with pytest.raises(NoSearchableWords) as refused:
        store.search("<https://www.news.example/2023/03/07/qin.html>", ["global"])
    assert str(refused.value) == "A link alone is no question; ask in words what you want to know about it."


def test_huge_article_id_is_not_found(store):
    with pytest.raises(NotFound, match="is not an article id"):
        store.get_article("global", "9" * 30)


def test_long_text_given_as_an_article_id_is_named_by_its_start(store):
    with pytest.raises(NotFound) as refused:
        store.remove("global", "Qin says " + "x" * 2000)
    assert str(refused.value) == (f"'Qin says {'x' * 50}…' is not an article id; use `list` to see the ids.")


# Library isolation is enforced twice: the engine searches only the asked libraries, and the SQL that
# reads the hits keeps only passages of those libraries. Each layer is tested here on its own.


def test_sql_layer_alone_keeps_other_libraries_out(store, monkeypatch):
    store.add(article("Secret", "The merger talks with the harbour board stalled."), "guild-a")
    store.add(article("Public", "The harbour board reopened the ferry pier."), "guild-b")
    leaky_top = store.index.top

    def engine_ignoring_libraries(libraries, terms, n, prune=True):
        return leaky_top(list(store.index.libraries), terms, n, prune)

    monkeypatch.setattr(store.index, "top", engine_ignoring_libraries)
    hits = store.search("harbour board merger", ["guild-b"], k=5).hits
    assert [h.article.title for h in hits] == ["Public"]


def test_reading_connections_map_the_database_file(store):
    from index.db.sqlite import READ_MMAP_BYTES

    with store.db.read() as conn:
        assert conn.execute("PRAGMA mmap_size").fetchone()[0] == READ_MMAP_BYTES


@pytest.mark.parametrize("word_forms", [False, True])
def test_matched_terms_of_every_page_are_each_passages_own(db_path, word_forms):
    # The old rule, from what is stored: the question's distinct known terms, in question order,
    # that the passage holds. Checked on every page (More asks offset > 0).
    with Store(db_path, word_forms=word_forms) as store:
        store.add(sample(), "global")
        for i in range(12):
            store.add(
                article(
                    f"Talks {i}", f"Peace talks {i}: weapons and a ceasefire were discussed. " * (i % 3 + 1)
                ),
                "global",
            )
        question = "what did Qin say about weapons weapons and peace talks xyzzyunknown"
        terms = list(store.search(question, ["global"], k=1).terms)
        for offset in range(0, 14, 3):
            hits = store.search(question, ["global"], k=3, offset=offset).hits
            held = store.db.passage_terms([(h.article.id, h.passage.index) for h in hits])
            assert [h.rank for h in hits] == list(range(offset + 1, offset + 1 + len(hits)))
            for h in hits:
                stored = held[(str(h.article.id), h.passage.index)]
                assert h.matched_terms == tuple(dict.fromkeys(t for t in terms if t in stored))


def test_matched_terms_of_a_passage_updated_between_two_reads_of_a_search(db_path):
    # Another thread updates an article (same link: same article id and passage index, a new passage
    # id) between a search's first read and the second one of its other word forms: the hit read
    # first shows its own text, so its own terms.
    with Store(db_path, word_forms=True) as store:
        store.add(article("Vote", "The vote was delayed until Friday.", "https://x.test/v"), "global")
        store.add(article("Other", "Nothing about that here, only weather.", "https://x.test/o"), "global")
        for i in range(5):
            store.add(
                article(f"Filler {i}", f"Filler text number {i} about gardens.", f"https://x.test/f{i}"),
                "global",
            )
        assert store.word_forms is not None

        def other_forms(terms, term_ids):
            store.add(
                article("Vote", "The vote passed on Friday by a wide margin.", "https://x.test/v"), "global"
            )
            store.refresh()  # as another thread's search does
            return store.db.known_term_ids(["weather"])

        store.word_forms.other_forms = other_forms
        hit = store.search("vote delayed", ["global"]).hits[0]
        assert (hit.passage.text, hit.matched_terms) == (
            "The vote was delayed until Friday.",
            ("vote", "delayed"),
        )


def add_multilingual(store: Store) -> None:
    for article in MULTILINGUAL:
        store.add(dataclasses.replace(article), "global")


def test_a_chinese_question_ranks_the_passage_holding_its_words_first(store):
    add_multilingual(store)
    hits = store.search("中国提供武器了吗", ["global"]).hits
    assert [h.passage.text for h in hits[:1]] == [ZH_WEAPONS.text]


def test_a_chinese_word_inside_a_longer_run_of_characters_is_found(store):
    add_multilingual(store)
    assert [h.article.title for h in store.search("武器", ["global"]).hits] == [ZH_WEAPONS.title]


def test_a_hindi_word_asked_finds_the_passage_holding_it(store):
    add_multilingual(store)
    assert [h.article.title for h in store.search("हिन्दी", ["global"]).hits] == [HI_DAY.title]


def test_a_hindi_word_no_passage_holds_finds_nothing_though_its_letters_are_stored(store):
    add_multilingual(store)
    # "दिन" (day): the old tokenizer split it into "द" and "न", which "हिन्दी" was split into too.
    assert store.search("दिन", ["global"]).hits == []


WARM_CHECK = """
import sys
from index import Store
store = Store(sys.argv[1])
before = "wordfreq" in sys.modules
store.warm()
print(before, "wordfreq" in sys.modules)
"""


def test_warm_loads_the_english_frequencies_that_opening_a_store_does_not(tmp_path):
    # A fresh interpreter: opening a store loads no frequencies (the CLI asks once); warm does.
    done = subprocess.run(
        [sys.executable, "-c", WARM_CHECK, str(tmp_path / "lib.db")],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.stdout.split() == ["False", "True"]
