from index.ingest.passages import PASSAGE_CAP, make_passages, pack_passages, split_sentences


def sentences(text: str) -> list[str]:
    return [text[s.start : s.end] for s in split_sentences(text)]


def test_abbreviations_do_not_end_sentences():
    text = "Mr. Smith flew to the U.S. on Monday. He met Dr. Jones."
    assert sentences(text) == ["Mr. Smith flew to the U.S. on Monday.", "He met Dr. Jones."]


def test_decimals_do_not_end_sentences():
    text = "Prices rose 3.5 percent in June. Rents rose too."
    assert sentences(text) == ["Prices rose 3.5 percent in June.", "Rents rose too."]


def test_sentence_end_glued_to_an_opening_quote_is_split():
    text = "It escalated the conflict.“The process must begin,” Qin said."
    assert sentences(text) == ["It escalated the conflict.", "“The process must begin,” Qin said."]


def test_paragraph_break_ends_a_sentence():
    assert sentences("A headline without a stop\n\nThe body.") == [
        "A headline without a stop",
        "The body.",
    ]


def test_passages_are_whole_sentences_within_budget():
    text = " ".join(f"Sentence number {i} talks about something." for i in range(40))
    spans = make_passages(text, budget=200, cap=300)
    starts = {s.start for s in split_sentences(text)}
    ends = {s.end for s in split_sentences(text)}
    assert all(s.end - s.start <= 200 for s in spans)
    assert all(s.start in starts and s.end in ends for s in spans)


def test_passages_cover_every_sentence_in_order():
    text = " ".join(f"Sentence {i} is here." for i in range(30))
    spans = make_passages(text, budget=100)
    assert " ".join(text[s.start : s.end] for s in spans) == text


def test_sentence_longer_than_cap_is_cut_at_spaces():
    text = "word " * 400 + "end."
    spans = make_passages(text.strip())
    assert len(spans) > 1
    assert all(s.end - s.start <= PASSAGE_CAP for s in spans)
    assert all(not text[s.start : s.end].startswith(" ") for s in spans)


def test_sentence_between_budget_and_cap_stands_alone():
    long = "A" + " long" * 110 + "."
    text = f"Short one. {long} Short two."
    spans = pack_passages(text, split_sentences(text), budget=450, cap=700)
    assert [text[s.start : s.end] for s in spans] == ["Short one.", long, "Short two."]


def test_passages_of_text_without_spaces_respect_the_cap():
    text = "x" * 2000
    spans = make_passages(text)
    assert [s.end - s.start for s in spans] == [700, 700, 600]


# Cases the property tests found; kept as examples so they are checked on every run.


def spans(text: str, **budget) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in make_passages(text, **budget)]


def test_repeated_sentences_keep_their_own_offsets():
    text = "The dam opened. The dam opened. The dam opened."
    assert [(s.start, s.end) for s in split_sentences(text)] == [(0, 15), (16, 31), (32, 47)]


def test_repeated_sentences_each_make_their_own_passage():
    text = "The dam opened. The dam opened. The dam opened."
    assert spans(text, budget=20, cap=40) == [(0, 15), (16, 31), (32, 47)]


def test_a_last_sentence_without_a_stop_reaches_the_end_of_the_text():
    text = "The vote passed. Then"
    assert sentences(text) == ["The vote passed.", "Then"]
    assert spans(text, budget=20) == [(0, 16), (17, 21)]


def test_a_last_sentence_with_a_stop_ends_at_the_last_character():
    text = "The vote passed. Then the council left."
    assert spans(text, budget=20)[-1] == (17, len(text))


def test_empty_paragraphs_between_sentences_are_skipped():
    text = "First.\n\n\n\n   \n\nSecond."
    assert [(s.start, s.end) for s in split_sentences(text)] == [(0, 6), (15, 22)]


def test_empty_paragraphs_around_the_only_sentence_are_skipped():
    text = "\n\n  \n\nOnly one.\n\n \n\n"
    assert [(s.start, s.end) for s in split_sentences(text)] == [(6, 15)]


def test_a_passage_may_be_exactly_the_budget():
    text = "One two. Three four."
    assert spans(text, budget=len(text), cap=40) == [(0, len(text))]


def test_an_over_long_sentence_is_cut_between_words_not_inside_them():
    text = "words " * 300 + "end."  # 700 is not a multiple of 6: cutting at the cap would split a word
    pieces = [text[start:end] for start, end in spans(text)]
    assert len(pieces) > 2
    assert all(set(piece.split()) <= {"words", "end."} for piece in pieces)
