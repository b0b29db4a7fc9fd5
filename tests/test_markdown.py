"""Markdown files and Discord posts are stored as the words a reader sees (index/ingest/markdown.py)."""

from concurrent.futures import ThreadPoolExecutor

from index.ingest.markdown import markdown_to_text


def test_emphasis_markers_are_left_out():
    assert markdown_to_text("The **city council** approved it *on Tuesday*.") == (
        "The city council approved it on Tuesday."
    )


def test_link_keeps_its_words_and_drops_its_address():
    assert markdown_to_text("Reporting by [Reuters](https://reuters.example/a).") == "Reporting by Reuters."


def test_address_written_as_an_autolink_stays():
    assert (
        markdown_to_text("Read more at <https://news.example/a>.") == "Read more at https://news.example/a."
    )


def test_heading_is_a_paragraph_of_its_own():
    assert markdown_to_text("## Rates held\nThe bank kept rates.") == "Rates held\n\nThe bank kept rates."


def test_list_items_keep_their_markers_on_a_line_each():
    assert (
        markdown_to_text("Demands:\n\n- more parks\n- fewer cars") == "Demands:\n- more parks\n- fewer cars"
    )


def test_numbered_list_keeps_its_numbers_from_its_start():
    assert markdown_to_text("3. three\n4. four") == "3. three\n4. four"


def test_table_rows_are_lines_of_cells():
    assert markdown_to_text("| city | votes |\n|---|---|\n| Lyon | 120 |") == "city | votes\nLyon | 120"


def test_code_block_keeps_its_lines():
    assert markdown_to_text("```\nline one\nline two\n```") == "line one\nline two"


def test_image_is_left_out_and_its_caption_stays():
    assert markdown_to_text("![a photo](p.jpg) The mayor at the harbour.") == "The mayor at the harbour."


def test_html_tags_in_a_markdown_file_are_left_out():
    assert markdown_to_text("The <b>harbour</b> reopened.<br>\n\n<div>Port <i>news</i></div>") == (
        "The harbour reopened.\n\nPort news"
    )


def test_angle_brackets_in_a_discord_post_are_text():
    assert markdown_to_text("Reporting by <Reuters>, thanks <@123>", discord=True) == (
        "Reporting by <Reuters>, thanks <@123>"
    )


def test_discord_spoilers_and_small_text_are_read_as_their_words():
    assert markdown_to_text("The ||final|| score\n-# Reporting by Jane Roe", discord=True) == (
        "The final score\nReporting by Jane Roe"
    )


def test_text_without_markup_is_unchanged():
    text = "Sales rose 5 * 3 = 15 per cent, the snake_case_name said.\n#1 seed Lyon won."
    assert markdown_to_text(text) == text


def test_threads_reading_markdown_at_once_each_get_their_own_text():
    documents = [
        f"# Story {n}\n\nThe **harbour** reopened on day {n}, [they](https://x.example/{n}) said."
        for n in range(64)
    ]
    expected = [f"Story {n}\n\nThe harbour reopened on day {n}, they said." for n in range(64)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(markdown_to_text, documents)) == expected
