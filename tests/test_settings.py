"""Settings from .env and the environment (index/settings.py, bot/settings.py): what is accepted, and the
one sentence that refuses anything else."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO

from bot.settings import Settings, SettingsError, load_settings
from index import QuestionTooLong
from index.settings import MAX_QUESTION_CHARS, check_question_length, parse_shards

TOKEN = "RECOGNISABLE.fake.TOKEN-for-tests"


def settings(**values: str) -> Settings:
    return load_settings(None, {"DISCORD_TOKEN": TOKEN, **values})


def refusal(**values: str) -> str:
    with pytest.raises(SettingsError) as refused:
        settings(**values)
    return str(refused.value)


# -- .env ---------------------------------------------------------------------------------------------


def test_env_file_saved_with_a_byte_order_mark_still_gives_its_first_key(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"\xef\xbb\xbfDISCORD_TOKEN=abc.def\r\nCLIPPINGS_DB=notepad.db\r\n")
    loaded = load_settings(env_file, {})
    assert (loaded.token, loaded.db_path) == ("abc.def", "notepad.db")


def test_current_folder_this_user_cannot_look_into_reads_no_env_file_instead_of_failing(tmp_path):
    # `sudo -u clippings clippings --db ... stats` from the operator's home folder (mode 700): the
    # clippings user cannot look for .env there. The child shuts itself out of its folder once Python
    # has started: as root by becoming nobody (root may look into any folder), else by chmod.
    folder = tmp_path / "home"
    folder.mkdir(mode=0o700)
    (folder / ".env").write_text("CLIPPINGS_DB=operator.db\n")
    script = (
        "import os\n"
        "from index.settings import load_settings\n"
        "if os.geteuid() == 0:\n"
        "    os.setgid(65534)\n"
        "    os.setuid(65534)\n"
        "else:\n"
        "    os.chmod('.', 0)\n"
        "loaded = load_settings()\n"
        "print(loaded.db_path, loaded.db_source, sep=' | ')"
    )
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=folder, env=env, capture_output=True, text=True, timeout=60
    )
    folder.chmod(0o700)
    assert (done.returncode, done.stdout, done.stderr) == (0, "clippings.db | the default\n", "")


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_env_file_not_in_utf8_is_one_sentence(tmp_path, encoding):
    env_file = tmp_path / ".env"
    env_file.write_bytes("DISCORD_TOKEN=abc.def\r\nCLIPPINGS_DB=café.db\r\n".encode(encoding))
    with pytest.raises(SettingsError) as refused:
        load_settings(env_file, {})
    assert str(refused.value) == (
        f"{env_file} is not UTF-8 text; save it again as UTF-8 (in Notepad: Save as, Encoding UTF-8)."
    )


def test_token_with_a_line_break_in_env_file_is_refused_without_showing_it(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text('DISCORD_TOKEN="SECRETtok\\nabc"\n')
    with pytest.raises(SettingsError) as refused:
        load_settings(env_file, {})
    assert str(refused.value) == (
        "DISCORD_TOKEN has a space, line break or other character that a bot token never has;"
        " copy the token again from the developer portal (Bot > Reset Token)."
    )
    assert "SECRET" not in str(refused.value) and "abc" not in str(refused.value)


@pytest.mark.parametrize("token", ["SECRETtok abc", "SECRETtok\tabc", "SECRETtok\x00abc", "SECRETtok€abc"])
def test_token_with_space_control_or_non_ascii_character_is_refused(token):
    with pytest.raises(SettingsError) as refused:
        load_settings(None, {"DISCORD_TOKEN": token})
    assert str(refused.value).startswith("DISCORD_TOKEN has a space, line break or other character")
    assert "SECRET" not in str(refused.value)


def test_token_with_surrounding_spaces_is_trimmed_and_accepted():
    assert load_settings(None, {"DISCORD_TOKEN": f"  {TOKEN}\n"}).token == TOKEN


# -- numbers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-5", "1e999", "٣", "5s", " . "])
def test_ask_cooldown_must_be_finite_seconds_zero_or_more(value):
    assert refusal(CLIPPINGS_ASK_COOLDOWN=value) == (
        f"CLIPPINGS_ASK_COOLDOWN must be a number of seconds, 0 or more (such as 5 or 2.5),"
        f" not {value.strip()!r}; fix it in .env or the environment."
    )


@pytest.mark.parametrize(
    ("value", "seconds"), [("0", 0.0), ("2.5", 2.5), (".5", 0.5), ("10.", 10.0), ("", 5.0)]
)
def test_ask_cooldown_takes_plain_decimal_seconds(value, seconds):
    assert settings(CLIPPINGS_ASK_COOLDOWN=value).ask_cooldown == seconds


@pytest.mark.parametrize("value", ["²", "٣", "1_0", "-1", "65", "3.0"])
def test_search_workers_must_be_ascii_digits_from_0_to_64(value):
    assert refusal(CLIPPINGS_SEARCH_WORKERS=value) == (
        "CLIPPINGS_SEARCH_WORKERS must be the number of worker processes (0 answers in the bot's"
        f" process), a whole number from 0 to 64, not {value!r}; fix it in .env or the environment."
    )


@pytest.mark.parametrize("value", ["0", "²", "5MB", "1073741825"])
def test_max_fetch_bytes_must_be_from_1_byte_to_1_gb(value):
    assert refusal(CLIPPINGS_MAX_FETCH_BYTES=value) == (
        "CLIPPINGS_MAX_FETCH_BYTES must be a number of bytes, a whole number from 1 to 1073741824,"
        f" not {value!r}; fix it in .env or the environment."
    )


def test_a_long_bad_value_is_cut_short_in_the_sentence():
    assert refusal(CLIPPINGS_MAX_FETCH_BYTES="9" * 5000) == (
        "CLIPPINGS_MAX_FETCH_BYTES must be a number of bytes, a whole number from 1 to 1073741824,"
        " not '99999999999999999999…'; fix it in .env or the environment."
    )


@pytest.mark.parametrize("value", ["²", "٣٣", "12a", "-5", "9" * 5000, str(2**64)])
def test_dev_guild_must_be_a_snowflake_in_ascii_digits(value):
    shown = repr(value if len(value) <= 24 else value[:20] + "…")
    assert (
        refusal(CLIPPINGS_DEV_GUILD=value)
        == f"CLIPPINGS_DEV_GUILD must be a server id (digits), not {shown}; fix it in .env or the environment."
    )


def test_dev_guild_of_digits_is_read_as_a_number():
    assert settings(CLIPPINGS_DEV_GUILD=" 123456789012345678 ").dev_guild == 123456789012345678


# -- log level ----------------------------------------------------------------------------------------

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def test_unknown_log_level_is_refused_with_every_level_accepted():
    assert refusal(CLIPPINGS_LOG_LEVEL="verbose") == (
        "CLIPPINGS_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not 'VERBOSE';"
        " fix it in .env or the environment."
    )


@pytest.mark.parametrize("level", LOG_LEVELS)
def test_every_log_level_the_refusal_names_is_accepted_in_any_case(level):
    assert settings(CLIPPINGS_LOG_LEVEL=f" {level.lower()} ").log_level == level


# -- on/off flags -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting", ["CLIPPINGS_MESSAGE_CONTENT", "CLIPPINGS_LEARNED", "CLIPPINGS_ALLOW_PRIVATE_URLS"]
)
def test_unrecognised_flag_word_is_refused_with_the_accepted_words(setting):
    assert refusal(**{setting: "enabled"}) == (
        f"{setting} must be 1 (or true, yes, on) to turn it on, or 0 (or false, no, off) to leave it off,"
        " not 'enabled'; fix it in .env or the environment."
    )


@pytest.mark.parametrize(
    ("value", "on"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" On ", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("off", False),
        ("", False),
    ],
)
def test_flag_words_accepted_today_keep_their_meaning(value, on):
    loaded = settings(
        CLIPPINGS_MESSAGE_CONTENT=value, CLIPPINGS_LEARNED=value, CLIPPINGS_ALLOW_PRIVATE_URLS=value
    )
    assert (loaded.message_content, loaded.learned, loaded.fetch.allow_private) == (on, on, on)


# -- shards -------------------------------------------------------------------------------------------

SHARD_COUNT_SENTENCE = "CLIPPINGS_SHARD_COUNT must be the total number of shards (a whole number from 1 to 100000), not {}; fix it in .env or the environment."


@pytest.mark.parametrize("count", ["²", "0", "4000000000", "100001", "1_0"])
def test_shard_count_must_be_ascii_digits_up_to_the_cap(count):
    with pytest.raises(SettingsError) as refused:
        parse_shards({"CLIPPINGS_SHARD_COUNT": count})
    assert str(refused.value) == SHARD_COUNT_SENTENCE.format(repr(count))


def test_shard_count_at_the_cap_serves_every_shard():
    ids, count = parse_shards({"CLIPPINGS_SHARD_COUNT": "100000"})
    assert (len(ids or ()), count) == (100_000, 100_000)


@pytest.mark.parametrize("shards", ["1-", "-1", "²", "0,,2", "3-1", "0 - 1", "1-²"])
def test_malformed_shard_list_is_refused(shards):
    with pytest.raises(SettingsError) as refused:
        parse_shards({"CLIPPINGS_SHARDS": shards, "CLIPPINGS_SHARD_COUNT": "4"})
    assert (
        str(refused.value)
        == f"CLIPPINGS_SHARDS must list shard ids such as 0-3 or 0,2,5, not {shards!r}; fix it in .env or the environment."
    )


def test_huge_shard_range_is_refused_before_it_is_made():
    with pytest.raises(SettingsError) as refused:
        parse_shards({"CLIPPINGS_SHARDS": "0-99999999999", "CLIPPINGS_SHARD_COUNT": "4"})
    assert str(refused.value) == (
        "CLIPPINGS_SHARDS names shard 99999999999, but shard ids go from 0 to 3 (CLIPPINGS_SHARD_COUNT=4);"
        " fix one of them."
    )


def test_overlapping_shard_ranges_give_each_shard_once():
    assert parse_shards({"CLIPPINGS_SHARDS": "2-3, 0-2", "CLIPPINGS_SHARD_COUNT": "4"}) == ((0, 1, 2, 3), 4)


# -- the question length ------------------------------------------------------------------------------


def test_the_longest_question_is_taken_and_one_character_more_is_refused():
    check_question_length("q" * MAX_QUESTION_CHARS)
    with pytest.raises(QuestionTooLong):
        check_question_length("q" * (MAX_QUESTION_CHARS + 1))


def test_a_question_over_the_longest_length_is_refused_with_its_length():
    with pytest.raises(QuestionTooLong) as refused:
        check_question_length("q" * 1234)
    assert (
        str(refused.value)
        == "That question is 1,234 characters long; ask it again in at most 300 characters."
    )
