import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import RERANK_EXTRA, SAMPLE, WEAPONS

from index import MAX_QUESTION_CHARS, Store
from index.cli import cli

COMMANDS = sorted(cli.commands)


def run(db_path, *args: str, input: str | None = None, env: dict | None = None):
    runner = CliRunner()
    return runner.invoke(cli, ["--db", str(db_path), *args], input=input, env=env, catch_exceptions=False)


@pytest.fixture
def with_sample(db_path):
    assert run(db_path, "add", str(SAMPLE)).exit_code == 0
    return db_path


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    assert f"clippings {command}" in result.output


def installed_script() -> str:
    """The console script pip installs beside this Python (.ci/run installs the project first)."""
    script = shutil.which("clippings", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip(
            "the clippings script is not installed beside this Python; pip install . (as .ci/run does)"
        )
    return script


def test_installed_clippings_script_runs_the_readme_job(tmp_path):
    script = installed_script()
    # The installed package, not the source tree: no PYTHONPATH, and not run from the repository.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["CLIPPINGS_DB"] = str(tmp_path / "c.db")

    def clippings(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [script, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )

    added = clippings("add", str(SAMPLE.parent))
    assert (added.returncode, added.stdout) == (
        0,
        "1\tChina Solicits For Peace Inorder To Settle Ukraine War\t7 passages\tadded\n",
    )
    asked = clippings("ask", "what did Qin say about weapons")
    assert asked.returncode == 0
    assert asked.stdout.splitlines()[:3] == [
        "1. China Solicits For Peace Inorder To Settle Ukraine War",
        "   article 1, passage 5 of 7",
        "   > " + WEAPONS + " amid the conflict, adding that Beijing didn’t create nor was party to the"
        " crisis.“Why on earth the blame sanctions and threats against China?",
    ]


def test_add_prints_id_title_and_passage_count(db_path):
    result = run(db_path, "add", str(SAMPLE))
    assert result.stdout == "1\tChina Solicits For Peace Inorder To Settle Ukraine War\t7 passages\tadded\n"
    assert result.stderr == "1 added in library global.\n"


def test_ask_json_puts_the_weapons_passage_first(with_sample):
    result = run(with_sample, "ask", "--json", "what did Qin say about weapons")
    answer = json.loads(result.stdout)
    first = answer["results"][0]
    assert first["passage"].startswith(WEAPONS)
    assert (first["rank"], first["title"], answer["searched_articles"]) == (
        1,
        "China Solicits For Peace Inorder To Settle Ukraine War",
        1,
    )
    text = SAMPLE.read_text()
    assert first["passage"] in text


def test_ask_with_a_soft_hyphen_inside_a_word_finds_the_word(with_sample):
    answer = json.loads(run(with_sample, "ask", "--json", "wea\u00adpons").stdout)
    assert answer["results"][0]["passage"].startswith(WEAPONS)


def test_ask_json_has_exactly_the_documented_keys(with_sample):
    answer = json.loads(run(with_sample, "ask", "--json", "-k", "1", "weapons").stdout)
    assert sorted(answer) == ["answerable", "question", "results", "searched_articles"]
    assert sorted(answer["results"][0]) == sorted(
        ["rank", "score", "article_id", "title", "url", "published", "passage", "start", "end"]
    )


def test_ask_dash_answers_one_question_per_line(with_sample):
    result = run(with_sample, "ask", "--json", "-", input="weapons\n\ninvisible hand\n")
    questions = [json.loads(line)["question"] for line in result.stdout.splitlines()]
    assert questions == ["weapons", "invisible hand"]


def test_ask_dash_drops_a_byte_order_mark_before_the_first_question(with_sample):
    result = run(with_sample, "ask", "--json", "-", input="\ufeffweapons\n")
    assert [json.loads(line)["question"] for line in result.stdout.splitlines()] == ["weapons"]


def test_ask_dash_with_a_line_that_is_not_utf8_answers_the_others_and_names_it(with_sample):
    # Python reads stdin strictly under most UTF-8 locales (en_US.UTF-8), as CliRunner does.
    result = run(with_sample, "ask", "--json", "-", input=b"weapons\ncaf\xe9 weapons\ninvisible hand\n")
    assert [json.loads(line)["question"] for line in result.stdout.splitlines()] == [
        "weapons",
        "invisible hand",
    ]
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: line 2 of the questions is not UTF-8 text; save them as UTF-8 and ask again.\n",
    )


def test_ask_with_a_question_over_the_limit_exits_1_and_says_its_length(with_sample):
    result = run(with_sample, "ask", "weapons " * 125)  # 999 characters once stripped
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        "Error: That question is 999 characters long; ask it again in at most 300 characters.\n",
    )


def test_ask_with_a_question_at_the_limit_is_answered(with_sample):
    question = ("weapons " * 40)[:MAX_QUESTION_CHARS]
    result = run(with_sample, "ask", "--json", question)
    assert (result.exit_code, json.loads(result.stdout)["question"]) == (0, question)


def test_ask_dash_with_an_over_long_line_answers_the_others_and_names_it(with_sample):
    lines = f"weapons\n{'weapons ' * 125}\ninvisible hand\n"
    result = run(with_sample, "ask", "--json", "-", input=lines)
    assert [json.loads(line)["question"] for line in result.stdout.splitlines()] == [
        "weapons",
        "invisible hand",
    ]
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: line 2 of the questions is 999 characters long; ask it again in at most 300 characters.\n",
    )


def test_ask_dash_counts_a_line_longer_than_it_reads_without_holding_or_echoing_it(with_sample):
    huge = "é" * 200_000  # 400,000 bytes: past the 64 KB read at once, and é split across reads
    result = run(with_sample, "ask", "--json", "-", input=f"{huge}\nweapons\n".encode())
    assert [json.loads(line)["question"] for line in result.stdout.splitlines()] == ["weapons"]
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: line 1 of the questions is 200,000 characters long; ask it again in at most 300"
        " characters.\n",
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_ask_dash_reads_questions_in_utf16_or_utf32_with_a_bom(with_sample, encoding):
    result = run(with_sample, "ask", "--json", "-", input="weapons\r\ninvisible hand\r\n".encode(encoding))
    assert [json.loads(line)["question"] for line in result.stdout.splitlines()] == [
        "weapons",
        "invisible hand",
    ]


def test_ask_without_searchable_words_exits_1(with_sample):
    result = run(with_sample, "ask", "?!")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: That question has no words to search for; ask with a few key words.\n",
    )


def test_ask_with_no_match_says_how_many_articles_were_searched(with_sample):
    result = run(with_sample, "ask", "volcano iceland")
    assert result.stdout == "No passage matches in 1 article (global). Try fewer or different words.\n"


def test_ask_json_says_the_weapons_question_is_answerable(with_sample):
    answer = json.loads(run(with_sample, "ask", "--json", "what did Qin say about weapons").stdout)
    assert (answer["answerable"], answer["results"][0]["passage"][: len(WEAPONS)]) == (True, WEAPONS)


def test_ask_json_keeps_the_closest_passages_of_a_question_with_no_answer(with_sample):
    answer = json.loads(run(with_sample, "ask", "--json", "what is the capital of Australia").stdout)
    assert answer["answerable"] is False
    assert len(answer["results"]) == 3


def test_ask_with_no_answer_says_so_before_the_closest_passages(with_sample):
    result = run(with_sample, "ask", "what is the capital of Australia")
    lines = result.stdout.splitlines()
    assert result.exit_code == 0
    assert lines[:2] == ["No answer found in 1 article (global).", "Closest passages (not an answer):"]
    assert lines[3].startswith("1. China Solicits For Peace")


def test_ask_treats_a_greeting_as_a_question_with_no_answer(with_sample):
    answer = json.loads(run(with_sample, "ask", "--json", "hello").stdout)
    assert answer["answerable"] is False


def test_ask_reads_only_the_named_library(db_path):
    run(db_path, "add", "--library", "guild-1", str(SAMPLE))
    answer = json.loads(run(db_path, "ask", "--json", "weapons").stdout)
    assert (answer["results"], answer["searched_articles"]) == ([], 0)


def test_add_missing_file_exits_1_with_one_sentence(db_path):
    result = run(db_path, "add", "nope.txt")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "Error: nope.txt does not exist; check the path."


def test_folder_with_a_bad_file_adds_the_good_ones(db_path, tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "qin.txt")
    (folder / "broken.txt").write_bytes(b"\x00\x01\x02binary")
    result = run(db_path, "add", str(folder))
    assert result.exit_code == 1
    assert "broken.txt looks like a binary file" in result.stderr
    assert "China Solicits For Peace" in result.stdout
    assert "1 added, 1 failed" in result.stderr


def test_add_from_stdin(db_path):
    result = run(db_path, "add", "--title", "Piped", "-", input="The river flooded the old town.")
    assert result.stdout == "1\tPiped\t1 passage\tadded\n"


def test_title_option_with_a_folder_is_a_usage_error(db_path, tmp_path):
    result = run(db_path, "add", "--title", "X", str(tmp_path))
    assert result.exit_code == 2


def test_list_show_remove_and_stats(with_sample):
    assert run(with_sample, "list").stdout.startswith("1\tChina Solicits For Peace")
    assert "The foreign minister went on to say" in run(with_sample, "show", "1").stdout
    assert run(with_sample, "stats").stdout.splitlines()[1] == "global\t1 article\t7 passages\t191 terms"
    assert (
        run(with_sample, "remove", "1").stdout
        == "Removed 1\tChina Solicits For Peace Inorder To Settle Ukraine War\n"
    )
    assert run(with_sample, "list").stderr == "No articles in library global.\n"


def test_list_with_an_offset_past_the_end_says_how_many_articles_the_library_has(with_sample):
    result = run(with_sample, "list", "--offset", "5")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "",
        "Library global has 1 article; use an --offset below 1.\n",
    )


def test_remove_unknown_id_exits_1(with_sample):
    result = run(with_sample, "remove", "99")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: There is no article 99 here; use `list` to see the ids.\n",
    )


def test_database_path_comes_from_the_environment(tmp_path):
    target = tmp_path / "from-env.db"
    result = CliRunner().invoke(cli, ["add", str(SAMPLE)], env={"CLIPPINGS_DB": str(target)})
    assert result.exit_code == 0
    assert target.exists()


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/story":
            body = (
                "<html><head><title>Dam opens</title></head><body><article><h1>Dam opens</h1><p>"
                + "The new dam opened on Tuesday after ten years of building. " * 4
                + "</p></article></body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
        else:
            body = b"%PDF-1.4"
            self.send_response(200)
            self.send_header("Content-Type", "application/pdf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_add_url_fetches_and_extracts_the_page(db_path, site):
    result = run(db_path, "add", f"{site}/story", env={"CLIPPINGS_ALLOW_PRIVATE_URLS": "1"})
    assert result.stdout == "1\tDam opens\t1 passage\tadded\n"
    answer = json.loads(run(db_path, "ask", "--json", "dam").stdout)
    assert answer["results"][0]["url"] == f"{site}/story"


def test_add_url_with_a_capitalised_scheme_fetches_the_page(db_path, site):
    # Phone keyboards capitalise the first letter: "Http://..." is the same link as "http://...".
    result = run(db_path, "add", "H" + site[1:] + "/story", env={"CLIPPINGS_ALLOW_PRIVATE_URLS": "1"})
    assert (result.exit_code, result.stdout) == (0, "1\tDam opens\t1 passage\tadded\n")
    answer = json.loads(run(db_path, "ask", "--json", "dam").stdout)
    assert answer["results"][0]["url"] == f"{site}/story"


def test_add_url_of_wrong_content_type_is_refused(db_path, site):
    result = run(db_path, "add", f"{site}/file.pdf", env={"CLIPPINGS_ALLOW_PRIVATE_URLS": "1"})
    assert result.exit_code == 1
    assert (
        result.stderr.splitlines()[0]
        == f"Error: {site}/file.pdf is application/pdf, not a web page or plain text; save the article's text as a .txt file and add that instead."
    )


def test_add_loopback_url_is_refused_by_default(db_path, site):
    result = run(db_path, "add", f"{site}/story", env={"CLIPPINGS_ALLOW_PRIVATE_URLS": ""})
    assert (
        result.stderr.splitlines()[0]
        == "Error: 127.0.0.1 is a private or local address; only public web pages can be added."
    )


def test_add_link_with_a_malformed_international_host_name_is_one_sentence(db_path):
    result = run(db_path, "add", "http://xn--.example/")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: http://xn--.example/ is not a valid link; check it.\n1 failed in library global.\n",
    )


def test_unreachable_url_exits_1(db_path):
    result = run(db_path, "add", "http://127.0.0.1:9/story", env={"CLIPPINGS_ALLOW_PRIVATE_URLS": "1"})
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: 127.0.0.1 cannot be reached")


def test_python_dash_m_index_runs_the_readme_job(tmp_path):
    env = {"CLIPPINGS_DB": str(tmp_path / "c.db"), "PATH": str(__import__("os").environ["PATH"])}
    subprocess.run(
        [sys.executable, "-m", "index", "add", str(SAMPLE)],
        check=True,
        env=env,
        capture_output=True,
    )
    out = subprocess.run(
        [sys.executable, "-m", "index", "ask", "what did Qin say about weapons"],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    assert (
        out.splitlines()[2]
        == "   > "
        + WEAPONS
        + " amid the conflict, adding that Beijing didn’t create nor was party to the crisis.“Why on earth the blame sanctions and threats against China?"
    )


def test_learned_ranker_answers_the_weapons_question_from_the_command_line(db_path):
    pytest.importorskip("onnxruntime", reason=RERANK_EXTRA)
    assert run(db_path, "--learned", "add", str(SAMPLE)).exit_code == 0
    result = run(db_path, "--learned", "ask", "--json", "what did Qin say about weapons")
    assert json.loads(result.stdout)["results"][0]["passage"].startswith(WEAPONS)


def test_learned_ranker_without_the_extra_exits_1_with_one_sentence(db_path, monkeypatch):
    from index.rank import semantic

    monkeypatch.setattr(semantic, "MODEL_PACKAGE", "no_such_model_package")
    result = CliRunner().invoke(cli, ["--db", str(db_path), "--learned", "ask", "dam"])
    assert (result.exit_code, result.stderr.count("\n"), "pip install" in result.stderr) == (1, 1, True)


def test_embed_without_learned_is_a_usage_error(db_path):
    result = CliRunner().invoke(cli, ["--db", str(db_path), "embed"])
    assert (result.exit_code, "clippings --learned embed" in result.stderr) == (2, True)


def test_embed_gives_passages_added_without_the_learned_stage_their_vectors(with_sample):
    pytest.importorskip("onnxruntime", reason=RERANK_EXTRA)
    result = run(with_sample, "--learned", "embed")
    again = run(with_sample, "--learned", "embed")
    assert (result.exit_code, result.stderr.splitlines()[-1], again.stderr.splitlines()[-1]) == (
        0,
        "7 passages given vectors.",
        "0 passages given vectors.",
    )


def test_embed_of_an_unknown_library_names_it_with_the_libraries_there(with_sample):
    pytest.importorskip("onnxruntime", reason=RERANK_EXTRA)
    result = run(with_sample, "--learned", "embed", "-l", "nosuch")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error: no library named 'nosuch'; use one of the libraries here: global.\n",
    )


def test_learned_flag_does_not_need_the_extra_for_commands_that_do_not_rank(with_sample, monkeypatch):
    from index.rank import semantic

    monkeypatch.setattr(semantic, "MODEL_PACKAGE", "no_such_model_package")
    result = CliRunner().invoke(cli, ["--db", str(with_sample), "--learned", "list"])
    assert (result.exit_code, result.stdout.split("\t")[1]) == (
        0,
        "China Solicits For Peace Inorder To Settle Ukraine War",
    )


# -- settings: the same .env and environment as the bot ------------------------------------------


def test_database_path_comes_from_the_env_file_as_for_the_bot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLIPPINGS_DB", raising=False)
    (tmp_path / ".env").write_text("CLIPPINGS_DB=shared.db\n")
    assert CliRunner().invoke(cli, ["add", str(SAMPLE)]).exit_code == 0
    result = CliRunner().invoke(cli, ["stats"])
    assert result.stdout.splitlines()[0] == "shared.db (from CLIPPINGS_DB in .env): 0.1 MB"
    assert (tmp_path / "shared.db").exists() and not (tmp_path / "clippings.db").exists()


def test_environment_wins_over_the_env_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CLIPPINGS_DB=shared.db\n")
    Store("mine.db").close()
    result = CliRunner().invoke(cli, ["stats", "--json"], env={"CLIPPINGS_DB": "mine.db"})
    figures = json.loads(result.stdout)
    assert (figures["path"], figures["path_from"]) == ("mine.db", "CLIPPINGS_DB in the environment")


def test_explicit_db_option_wins_over_env_file_and_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CLIPPINGS_DB=shared.db\n")
    Store("own.db").close()
    result = CliRunner().invoke(cli, ["--db", "own.db", "stats"], env={"CLIPPINGS_DB": "mine.db"})
    assert result.stdout.splitlines()[0] == "own.db (from the --db option): 0.1 MB"


def test_without_any_setting_the_database_is_the_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLIPPINGS_DB", raising=False)
    Store("clippings.db").close()
    result = CliRunner().invoke(cli, ["stats"])
    assert result.stdout.splitlines()[0] == "clippings.db (from the default): 0.1 MB"


def test_learned_setting_in_the_env_file_reaches_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLIPPINGS_LEARNED", raising=False)
    (tmp_path / ".env").write_text("CLIPPINGS_LEARNED=1\n")
    Store("x.db").close()
    result = CliRunner().invoke(cli, ["--db", "x.db", "embed"])
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (0, "0 passages given vectors.")


@pytest.mark.parametrize("command", [["stats"], ["list"], ["ask", "weapons"], ["remove", "1"], ["show", "1"]])
def test_a_command_on_a_database_that_does_not_exist_refuses_and_creates_nothing(tmp_path, command):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "typo.db"), *command])
    assert (result.exit_code, result.stderr, os.listdir(tmp_path)) == (
        1,
        f"Error: {tmp_path / 'typo.db'} (the --db option) does not exist; add articles to it first with"
        " `clippings add`, or point --db or CLIPPINGS_DB at the database to use.\n",
        [],
    )


def test_bad_setting_in_the_env_file_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CLIPPINGS_MAX_FETCH_BYTES=lots\n")
    result = CliRunner().invoke(cli, ["--db", "x.db", "stats"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: CLIPPINGS_MAX_FETCH_BYTES must be a number of bytes, a whole number from 1 to 1073741824,"
        " not 'lots'; fix it in .env or the environment."
    )


def test_bad_setting_in_the_environment_prints_only_its_sentence_without_usage_lines(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--db", "x.db", "stats"], env={"CLIPPINGS_LEARNED": "maybe"})
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: CLIPPINGS_LEARNED must be 1 (or true, yes, on) to turn it on, or 0 (or false, no, off) to"
        " leave it off, not 'maybe'; fix it in .env or the environment.\n",
    )


@pytest.mark.parametrize("jobs", ["2", "3"])
def test_ask_dash_in_several_processes_gives_one_process_answers_in_order(with_sample, jobs):
    questions = "weapons\n?!\ninvisible hand\nwhat did Qin say about weapons\nhello\nukraine\n"
    alone = run(with_sample, "ask", "--json", "--jobs", "1", "-", input=questions)
    pooled = run(with_sample, "ask", "--json", "--jobs", jobs, "-", input=questions)
    assert (pooled.exit_code, pooled.stdout, pooled.stderr) == (alone.exit_code, alone.stdout, alone.stderr)
    assert [json.loads(line)["question"] for line in pooled.stdout.splitlines()] == [
        "weapons",
        "invisible hand",
        "what did Qin say about weapons",
        "hello",
        "ukraine",
    ]
    assert (pooled.exit_code, pooled.stderr) == (
        1,
        "Error: '?!': That question has no words to search for; ask with a few key words.\n",
    )
