"""The docs cover every command, and every install command names this project (as sqlite-utils'
tests/test_docs.py checks its docs)."""

from __future__ import annotations

import re
import subprocess

import discord
import pytest
from click.testing import CliRunner
from conftest import REPO
from discord import app_commands

from bot.client import ClippingsBot
from index import Settings, Store
from index.cli import cli

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TEXT = "\n".join(path.read_text() for path in DOCS)

# PyPI's `clippings` is another project: installs must name `.` or `clippings-bot`.
WRONG_INSTALL = re.compile(r"pip install (?:-\S+ )*['\"]?clippings(?![-\w])|(?<![-\w])clippings\[")


async def slash_commands(tmp_path) -> list[str]:
    """Every app command the bot registers, from its command tree, built without connecting."""
    with Store(tmp_path / "docs.db") as store:
        bot = ClippingsBot(Settings(token="unused"), store)
        await bot.add_commands()
        names = []
        for command in bot.tree.walk_commands():
            if isinstance(command, app_commands.Command):
                names.append(f"/{command.qualified_name}")
        names.extend(menu.name for menu in bot.tree.get_commands(type=discord.AppCommandType.message))
        await bot.close()
    return sorted(names)


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_cli_command_is_in_the_docs(command):
    assert re.search(rf"clippings (?:--\S+ )*{command}\b", TEXT), f"clippings {command} is not documented"


async def test_every_slash_command_and_menu_is_in_the_docs(tmp_path):
    names = await slash_commands(tmp_path)
    assert names == [
        "/article add",
        "/article list",
        "/article remove",
        "/article show",
        "/ask",
        "/help",
        "/newsroom clear",
        "/newsroom set",
        "Add as article",
    ]
    missing = [name for name in names if name not in TEXT]
    assert missing == []


def committed_text_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [
        name
        for name in listed
        if not name.startswith("tests/")
        and name.endswith((".md", ".py", ".toml", ".example", ".service", "NOTICE", "run"))
    ]


def test_no_doc_or_message_installs_another_projects_package():
    wrong = {
        name: WRONG_INSTALL.findall((REPO / name).read_text())
        for name in committed_text_files()
        if (REPO / name).exists()
    }
    assert {name: found for name, found in wrong.items() if found} == {}


def test_cli_help_names_the_right_package():
    help_text = CliRunner().invoke(cli, ["--help"]).output
    assert "clippings-bot[rerank]" in help_text
    assert not WRONG_INSTALL.search(help_text)


def test_the_pattern_catches_the_old_install_commands():
    old = ["pip install clippings", "pip install 'clippings[rerank]'", "the extra clippings[rerank]"]
    assert [bool(WRONG_INSTALL.search(line)) for line in old] == [True, True, True]
    assert not WRONG_INSTALL.search("pip install 'clippings-bot[rerank]' or pip install '.[rerank]'")


def test_readme_starts_with_the_two_commands_and_stays_short():
    lines = (REPO / "README.md").read_text().splitlines()
    assert lines[:4] == [
        "```",
        'pip install . && clippings add samples/ && clippings ask "what did Qin say about weapons"',
        "pip install '.[test,rerank]' && python -m pytest -q",
        "```",
    ]
    assert len(lines) <= 200


def test_docs_name_no_path_outside_the_repository():
    outside = re.compile(r"/work/|/tmp/|\.\./shared")
    assert {
        path.name: outside.findall(path.read_text()) for path in DOCS if outside.search(path.read_text())
    } == {}


def test_env_example_gives_the_learned_stages_adding_speed_that_the_readme_and_the_cli_give():
    speed = "about 40 passages a second"
    readme = (REPO / "README.md").read_text()
    env_example = (REPO / ".env.example").read_text()
    help_text = CliRunner().invoke(cli, ["--help"], terminal_width=1000).output
    assert (speed in readme, speed in env_example, speed in help_text) == (True, True, True)


def architecture_tree() -> set[str]:
    """The files and folders that docs/architecture.md's layout lists, as paths from the repository."""
    text = (REPO / "docs" / "architecture.md").read_text()
    block = text.split("```\n", 2)[1]
    listed: set[str] = set()
    parents: list[str] = []
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        name = line.split()[0] if line.strip() else ""
        if indent > 8 or not (name.endswith("/") or name.endswith(".py")):
            continue  # a description's second line
        parents = parents[: indent // 2]
        path = "".join(parents) + name
        listed.add(path.rstrip("/"))
        if name.endswith("/"):
            parents.append(name)
    return listed


def test_architecture_lists_every_module_of_index_and_bot():
    modules = {
        str(path.relative_to(REPO))
        for package in ("index", "bot")
        for path in (REPO / package).rglob("*.py")
        if path.name != "__init__.py" or path.parent.name == "index"
    }
    assert sorted(modules - architecture_tree()) == []


def test_architecture_lists_nothing_that_is_gone():
    gone = [path for path in architecture_tree() if not (REPO / path).exists()]
    assert gone == []
