"""Tests proving that tests/discord_fake/ drives an unmodified discord.py bot.

A tiny throwaway bot is defined below; every test starts it against a fresh
FakeDiscord and talks to it only through the fake's gateway/REST surface.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
import pytest_asyncio
from discord import app_commands
from discord.ext import commands

from tests.discord_fake import (
    ApiError,
    BotFailure,
    FakeChannel,
    FakeDiscord,
    FakeDiscordError,
    FakeGuild,
    FakeUser,
    Intent,
    InteractionNotAllowed,
    Perm,
    run_bot,
    validate_autocomplete,
    validate_message_body,
    validate_modal,
)

TAGS = ["python", "pytest", "discord", "asyncio", "aiohttp"]


# --------------------------------------------------------------------------
# The throwaway bot
# --------------------------------------------------------------------------


class NoteModal(discord.ui.Modal, title="Add a note"):
    note = discord.ui.TextInput(label="Note", custom_id="note:text", max_length=200)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        interaction.client.notes.append(self.note.value)  # type: ignore[attr-defined]
        await interaction.response.send_message(f"Noted: {self.note.value}", ephemeral=True)


class ClipView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.button(label="Save", custom_id="clip:save", style=discord.ButtonStyle.primary)
    async def save(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.edit_message(content=f"Saved by {interaction.user.name}", view=None)

    @discord.ui.button(label="Note", custom_id="clip:note")
    async def note(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_modal(NoteModal())


class PickView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=60)

    @discord.ui.select(
        custom_id="pick:colour",
        placeholder="Pick colours",
        min_values=1,
        max_values=2,
        options=[discord.SelectOption(label=c.title(), value=c) for c in ("red", "green", "blue")],
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.edit_message(content=f"picked {','.join(select.values)}", view=None)


class TestBot(commands.Bot):
    __test__ = False  # not a pytest class

    def __init__(self, guild_id: int, *, message_content: bool = True) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        intents.members = True
        super().__init__(command_prefix="!", intents=intents)
        self.guild_id = guild_id
        self.notes: list[str] = []
        self.seen_messages: list[discord.Message] = []
        self.http_errors: list[discord.HTTPException] = []
        self.clipped: list[discord.Message] = []
        self.raw_events: list[object] = []
        self.thread_events: list[tuple[str, object]] = []
        self.article_args: dict = {}
        self.lifecycle: dict = {}
        self.resumed = asyncio.Event()
        self.gate = asyncio.Event()

    async def setup_hook(self) -> None:
        guild = discord.Object(self.guild_id)
        for cmd in _guild_commands(self):
            self.tree.add_command(cmd, guild=guild)
        self.tree.add_command(_ping)
        await self.tree.sync(guild=guild)
        await self.tree.sync()

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def on_raw_message_edit(self, payload: discord.RawMessageUpdateEvent) -> None:
        self.raw_events.append(payload)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        self.raw_events.append(payload)

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        self.raw_events.append(payload)

    async def on_thread_create(self, thread: discord.Thread) -> None:
        self.thread_events.append(("create", thread))

    async def on_thread_join(self, thread: discord.Thread) -> None:
        self.thread_events.append(("join", thread))

    async def on_thread_update(self, before: discord.Thread, after: discord.Thread) -> None:
        self.thread_events.append(("update", after))

    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        self.thread_events.append(("delete", payload))

    async def on_thread_member_join(self, member: discord.ThreadMember) -> None:
        self.thread_events.append(("member_join", member))

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        self.seen_messages.append(message)
        if self.user in message.mentions:
            await message.reply(
                f"Hi {message.author.mention}!",
                mention_author=False,
                allowed_mentions=discord.AllowedMentions.none(),
            )
            await message.add_reaction("📎")


@app_commands.command(name="ping", description="Ping (works in DMs too)")
async def _ping(interaction: discord.Interaction) -> None:
    where = "dm" if interaction.guild is None else interaction.guild.name
    await interaction.response.send_message(f"pong from {where}")


def _guild_commands(bot: TestBot) -> list:
    @app_commands.command(name="clip", description="Clip a URL")
    async def clip(interaction: discord.Interaction, url: str, count: int = 1, public: bool = True) -> None:
        await interaction.response.defer(thinking=True, ephemeral=not public)
        await interaction.followup.send(f"Clipped {url} x{count}", view=ClipView())

    @app_commands.command(name="secret", description="Ephemeral reply")
    async def secret(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("only you can see this", ephemeral=True)

    @app_commands.command(name="tag", description="Show a tag")
    async def tag(interaction: discord.Interaction, name: str) -> None:
        await interaction.response.send_message(f"tag {name}")

    @tag.autocomplete("name")
    async def tag_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=t, value=t) for t in TAGS if t.startswith(current)]

    article = app_commands.Group(name="article", description="Manage articles")

    @article.command(name="add", description="Add an article")
    async def article_add(
        interaction: discord.Interaction,
        url: str,
        channel: discord.TextChannel,
        file: discord.Attachment,
        priority: int,
        pinned: bool = False,
    ) -> None:
        data = await file.read()
        bot.article_args = {
            "url": url,
            "channel": channel,
            "file": file,
            "data": data,
            "priority": priority,
            "pinned": pinned,
        }
        await interaction.response.send_message(f"added {url} to {channel.mention}")

    @article.command(name="remove", description="Remove an article")
    async def article_remove(interaction: discord.Interaction, url: str) -> None:
        await interaction.response.send_message(f"removed {url}")

    @app_commands.command(name="purge", description="Moderators only")
    @app_commands.default_permissions(manage_messages=True)
    async def purge(interaction: discord.Interaction) -> None:
        perms = interaction.permissions
        await interaction.response.send_message(f"manage_messages={perms.manage_messages}", ephemeral=True)

    @app_commands.command(name="toolong", description="Sends an oversized message")
    async def toolong(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        try:
            await interaction.followup.send("x" * 2001)
        except discord.HTTPException as exc:
            bot.http_errors.append(exc)
        try:
            await interaction.followup.send(embed=discord.Embed(title="t" * 257))
        except discord.HTTPException as exc:
            bot.http_errors.append(exc)
        await interaction.followup.send("recovered")

    @app_commands.command(name="gate", description="Answers once the test opens the gate")
    async def gate(interaction: discord.Interaction) -> None:
        await bot.gate.wait()
        await interaction.response.send_message("done")

    @app_commands.command(name="slow", description="Answers too late")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        await interaction.response.send_message("done")

    @app_commands.command(name="export", description="Uploads a file")
    async def export(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            "here you go", file=discord.File(io.BytesIO(b"clip contents"), filename="clip.txt")
        )

    @app_commands.command(name="announce", description="Posts in a channel via REST")
    async def announce(interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await interaction.response.defer(ephemeral=True)
        try:
            msg = await channel.send(
                "announcement", file=discord.File(io.BytesIO(b"data!"), filename="a.bin")
            )
        except discord.Forbidden as exc:
            bot.http_errors.append(exc)
            await interaction.edit_original_response(content="no permission")
            return
        await msg.add_reaction("✅")
        fetched = await channel.fetch_message(msg.id)
        await interaction.edit_original_response(
            content=f"posted {fetched.id} with {len(fetched.attachments)} file"
        )

    @app_commands.command(name="lifecycle", description="Reply, fetch, edit, followups, delete")
    async def lifecycle(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("v1")
        original = await interaction.original_response()  # GET @original
        bot.lifecycle["fetched"] = original.content
        await interaction.edit_original_response(content="v2")  # PATCH @original
        first = await interaction.followup.send("f1", wait=True)  # POST webhook
        first = await first.edit(content="f1 edited")  # PATCH /messages/{id}
        second = await interaction.followup.send("f2", ephemeral=True, wait=True)
        bot.lifecycle["second_ephemeral"] = second.flags.ephemeral
        await first.delete()  # DELETE /messages/{id}
        await interaction.delete_original_response()  # DELETE @original

    @app_commands.command(name="pick", description="Select menu")
    async def pick(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pick colours", view=PickView())

    async def inspect_user(interaction: discord.Interaction, member: discord.Member) -> None:
        roles = sorted(r.name for r in member.roles if not r.is_default())
        await interaction.response.send_message(f"{member.name}: {roles}", ephemeral=True)

    async def clip_message(interaction: discord.Interaction, message: discord.Message) -> None:
        bot.clipped.append(message)
        await interaction.response.send_message(f"Clipped message by {message.author.name}", ephemeral=True)

    menu = app_commands.ContextMenu(name="Clip message", callback=clip_message)
    user_menu = app_commands.ContextMenu(name="Inspect user", callback=inspect_user)
    return [
        clip,
        secret,
        tag,
        article,
        purge,
        toolong,
        slow,
        gate,
        export,
        announce,
        lifecycle,
        pick,
        menu,
        user_menu,
    ]


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Env:
    fake: FakeDiscord
    guild: FakeGuild
    general: FakeChannel
    alice: FakeUser
    mod: FakeUser
    bot: TestBot


@contextlib.asynccontextmanager
async def bot_env(message_content: bool = True, **fake_kwargs) -> AsyncIterator[Env]:
    async with FakeDiscord(**fake_kwargs) as fake:
        guild = fake.add_guild("Clip Club")
        general = guild.add_text_channel("general")
        alice = fake.add_user("alice")
        guild.add_member(alice)
        mods = guild.add_role("Mods", permissions=Perm.MANAGE_MESSAGES)
        mod = fake.add_user("mod")
        guild.add_member(mod, roles=[mods])
        bot = TestBot(guild.id, message_content=message_content)
        async with run_bot(fake, bot):
            yield Env(fake, guild, general, alice, mod, bot)


@pytest_asyncio.fixture
async def env() -> AsyncIterator[Env]:
    async with bot_env() as e:
        yield e


# --------------------------------------------------------------------------
# Startup, sync, gateway
# --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_startup_login_sync_and_guild_cache(env: Env) -> None:
    fake, bot = env.fake, env.bot
    paths = [(r.method, r.path) for r in fake.requests]
    assert paths[0] == ("GET", "/users/@me")
    assert paths[1] == ("GET", "/oauth2/applications/@me")
    assert all(r.headers["Authorization"] == f"Bot {fake.token}" for r in fake.requests[:2])

    assert [s.guild_id for s in fake.command_syncs] == [env.guild.id, None]
    guild_sync = fake.command_syncs[0]
    names = sorted(c["name"] for c in guild_sync.payload)
    assert names == sorted(
        [
            "clip",
            "secret",
            "tag",
            "article",
            "purge",
            "toolong",
            "slow",
            "gate",
            "export",
            "announce",
            "lifecycle",
            "pick",
            "Clip message",
            "Inspect user",
        ]
    )
    purge = next(c for c in guild_sync.response if c["name"] == "purge")
    assert purge["default_member_permissions"] == str(Perm.MANAGE_MESSAGES)
    assert all("id" in c and c["application_id"] == str(fake.application_id) for c in guild_sync.response)
    assert [c["name"] for c in fake.registered_commands()] == ["ping"]

    assert bot.user is not None and bot.user.id == fake.bot_user.id
    assert bot.application_id == fake.application_id
    dguild = bot.get_guild(env.guild.id)
    assert dguild is not None and dguild.name == "Clip Club"
    assert dguild.member_count == 4  # owner, bot, alice, mod
    assert dguild.chunked
    assert dguild.get_channel(env.general.id).name == "general"
    assert dguild.get_member(env.mod.id).guild_permissions.manage_messages
    assert fake.identify_count == 1 and fake.intents & Intent.MESSAGE_CONTENT
    assert fake.unhandled_requests == []


@pytest.mark.asyncio
async def test_a_refused_command_sync_is_answered_with_the_error_and_keeps_the_commands(env: Env) -> None:
    fake = env.fake
    fake.refuse_command_sync(ApiError(400, 30032, "Maximum number of application commands reached (100)"))
    with fake.expect_errors(30032), pytest.raises(discord.HTTPException) as refused:
        await env.bot.tree.sync()
    assert (refused.value.status, refused.value.code) == (400, 30032)
    assert (fake.command_syncs[-1].status, [c["name"] for c in fake.registered_commands()]) == (400, ["ping"])


@pytest.mark.asyncio
async def test_heartbeats_keep_flowing_and_resume_after_drop() -> None:
    async with bot_env(heartbeat_interval=0.05) as env:
        fake = env.fake
        await fake.wait_for_heartbeats(4, timeout=2)
        await fake.drop_connection(4000)
        await asyncio.wait_for(env.bot.resumed.wait(), 3)
        assert fake.resume_count == 1 and fake.identify_count == 1
        assert fake.resumes[0]["session_id"] == env.bot.ws.session_id
        before = fake.heartbeat_count
        await fake.wait_for_heartbeats(before + 2, timeout=2)
        # The resumed session still delivers interactions.
        inter = await fake.invoke_command("secret", user=env.alice, channel=env.general)
        assert (await inter.wait_response())["type"] == 4


@pytest.mark.asyncio
async def test_bad_token_is_rejected() -> None:
    async with FakeDiscord() as fake:
        bot = TestBot(1)
        with fake.expect_errors(401), pytest.raises(discord.LoginFailure):
            async with run_bot(fake, bot, token="wrong"):
                pass
        assert fake.requests[0].status == 401


# --------------------------------------------------------------------------
# Interactions
# --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_slash_defer_followup_button_and_modal(env: Env) -> None:
    fake = env.fake
    inter = await fake.invoke_command(
        "clip", {"url": "https://x.test/a", "count": 3}, user=env.alice, channel=env.general
    )
    response = await inter.wait_response()
    assert response == {"type": 5}  # deferred, public
    assert inter.ack_latency is not None and not inter.late

    followup = await inter.wait_followup()
    # The first followup after a defer replaces the "thinking" message.
    assert int(followup["id"]) == inter.original_message_id
    assert followup["content"] == "Clipped https://x.test/a x3"
    assert not followup["flags"] & (1 << 7)
    buttons = [c["custom_id"] for row in followup["components"] for c in row["components"]]
    assert buttons == ["clip:save", "clip:note"]
    assert fake.messages_in(env.general) == [followup]

    click = await fake.click_button(followup, "clip:save", user=env.mod)
    assert (await click.wait_response())["type"] == 7
    assert followup["content"] == "Saved by mod"
    assert followup["components"] == []
    assert followup["edited_timestamp"] is not None

    # The view was removed, so the button is gone for good.
    with pytest.raises(InteractionNotAllowed):
        await fake.click_button(followup, "clip:save", user=env.alice)


@pytest.mark.asyncio
async def test_button_opens_modal_and_submit(env: Env) -> None:
    fake = env.fake
    inter = await fake.invoke_command("clip", {"url": "u"}, user=env.alice, channel=env.general)
    message = await inter.wait_followup()
    open_modal = await fake.click_button(message, "clip:note", user=env.alice)
    assert (await open_modal.wait_response())["type"] == 9
    modal = open_modal.modal
    assert modal["title"] == "Add a note"

    with pytest.raises(InteractionNotAllowed):  # required input left empty
        await fake.submit_modal(open_modal, {})
    submit = await fake.submit_modal(open_modal, {"note:text": "remember this"})
    response = await submit.wait_response()
    assert response["type"] == 4
    assert response["data"]["flags"] == 64
    assert submit.is_ephemeral
    assert submit.original_message["content"] == "Noted: remember this"
    assert env.bot.notes == ["remember this"]
    assert submit.original_message not in fake.messages_in(env.general)


@pytest.mark.asyncio
async def test_ephemeral_reply_and_ephemeral_defer(env: Env) -> None:
    fake = env.fake
    inter = await fake.invoke_command("secret", user=env.alice, channel=env.general)
    response = await inter.wait_response()
    assert response["type"] == 4 and response["data"]["flags"] == 64
    assert inter.is_ephemeral
    assert inter.original_message["content"] == "only you can see this"
    assert fake.messages_in(env.general) == []
    assert fake.messages_in(env.general, include_ephemeral=True) == [inter.original_message]

    deferred = await fake.invoke_command(
        "clip", {"url": "u", "public": False}, user=env.alice, channel=env.general
    )
    assert (await deferred.wait_response()) == {"type": 5, "data": {"flags": 64}}
    msg = await deferred.wait_followup()
    assert msg["flags"] & 64 and deferred.is_ephemeral
    # Only the invoking user can click buttons on an ephemeral message.
    with pytest.raises(InteractionNotAllowed):
        await fake.click_button(msg, "clip:save", user=env.mod)


@pytest.mark.asyncio
async def test_subcommand_group_with_resolved_options(env: Env) -> None:
    fake = env.fake
    attachment = fake.add_attachment("notes.txt", b"hello attachment", "text/plain")
    other = env.guild.add_text_channel("archive")
    inter = await fake.invoke_command(
        "article add",
        {"url": "https://a.test", "channel": other, "file": attachment, "priority": 7, "pinned": True},
        user=env.alice,
        channel=env.general,
    )
    data = inter.payload["data"]
    assert data["options"][0]["name"] == "add" and data["options"][0]["type"] == 1
    assert str(other.id) in data["resolved"]["channels"]
    assert attachment["id"] in data["resolved"]["attachments"]

    await inter.wait_response()
    args = env.bot.article_args
    assert args["url"] == "https://a.test"
    assert args["channel"].id == other.id
    assert args["file"].filename == "notes.txt"
    assert args["data"] == b"hello attachment"  # Attachment.read() hit the fake
    assert args["priority"] == 7 and args["pinned"] is True
    assert inter.original_message["content"] == f"added https://a.test to <#{other.id}>"

    with pytest.raises(InteractionNotAllowed):  # required options missing
        fake.build_command_payload("article add", {"url": "x"}, user=env.alice, channel=env.general)


@pytest.mark.asyncio
async def test_autocomplete(env: Env) -> None:
    inter = await env.fake.autocomplete("tag", {"name": "py"}, "name", user=env.alice, channel=env.general)
    option = inter.payload["data"]["options"][0]
    assert option == {"name": "name", "type": 3, "value": "py", "focused": True}
    assert inter.type == 4
    response = await inter.wait_response()
    assert response["type"] == 8
    assert inter.choices == [{"name": "python", "value": "python"}, {"name": "pytest", "value": "pytest"}]


@pytest.mark.asyncio
async def test_message_context_menu(env: Env) -> None:
    fake = env.fake
    original = await fake.send_user_message(env.general, env.alice, "a message worth clipping")
    inter = await fake.invoke_message_command("Clip message", original, user=env.mod)
    data = inter.payload["data"]
    assert data["type"] == 3 and data["target_id"] == original["id"]
    response = await inter.wait_response()
    assert response["data"]["content"] == "Clipped message by alice"
    clipped = env.bot.clipped[0]
    assert clipped.id == int(original["id"]) and clipped.content == "a message worth clipping"


@pytest.mark.asyncio
async def test_default_member_permissions_enforced(env: Env) -> None:
    fake = env.fake
    with pytest.raises(InteractionNotAllowed):
        await fake.invoke_command("purge", user=env.alice, channel=env.general)
    inter = await fake.invoke_command("purge", user=env.mod, channel=env.general)
    assert inter.payload["member"]["permissions"] == str(env.guild.permissions_for(env.mod, env.general))
    assert int(inter.payload["member"]["permissions"]) & Perm.MANAGE_MESSAGES
    assert int(inter.payload["app_permissions"]) == env.guild.permissions_for(fake.bot_user, env.general)
    await inter.wait_response()
    assert inter.original_message["content"] == "manage_messages=True"
    # Channel overwrites count too.
    env.general.set_permissions(
        env.guild.roles[env.guild.member(env.mod).role_ids[0]], deny=Perm.MANAGE_MESSAGES
    )
    with pytest.raises(InteractionNotAllowed):
        await fake.invoke_command("purge", user=env.mod, channel=env.general)


@pytest.mark.asyncio
async def test_dm_interaction(env: Env) -> None:
    fake = env.fake
    dm = fake.dm_channel(env.alice)
    inter = await fake.invoke_command("ping", user=env.alice, channel=dm)
    assert "guild_id" not in inter.payload and inter.payload["user"]["id"] == str(env.alice.id)
    assert inter.payload["channel"]["type"] == 1
    await inter.wait_response()
    assert inter.original_message["content"] == "pong from dm"
    assert fake.messages_in(dm) == [inter.original_message]
    with pytest.raises(FakeDiscordError):
        await fake.invoke_command("secret", user=env.alice, channel=dm)  # guild command


@pytest.mark.asyncio
async def test_validation_errors_reach_the_bot(env: Env) -> None:
    fake = env.fake
    with fake.expect_errors(50035) as refused:
        inter = await fake.invoke_command("toolong", user=env.alice, channel=env.general)
        await inter.wait_followup()
    assert len(refused) == 2
    assert [e.status for e in env.bot.http_errors] == [400, 400]
    assert [e.code for e in env.bot.http_errors] == [50035, 50035]
    assert "content" in env.bot.http_errors[0].text and "2000" in env.bot.http_errors[0].text
    assert "embeds.0.title" in env.bot.http_errors[1].text
    assert inter.original_message["content"] == "recovered"
    rejected = fake.error_responses
    assert rejected[0].response["errors"] == {
        "content": {
            "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]
        }
    }


@pytest.mark.asyncio
async def test_second_callback_is_rejected(env: Env) -> None:
    fake = env.fake
    inter = await fake.invoke_command("secret", user=env.alice, channel=env.general)
    await inter.wait_response()
    url = f"{fake.api_base}/interactions/{inter.id}/{inter.token}/callback"
    payload = {"type": 4, "data": {"content": "again"}}
    with fake.expect_errors(40060):
        async with aiohttp.ClientSession() as session, session.post(url, json=payload) as resp:
            assert resp.status == 400
            assert resp.headers["Content-Type"] == "application/json"
            body = await resp.json()
    assert body["code"] == 40060
    assert body["message"] == "Interaction has already been acknowledged."
    assert [a["status"] for a in inter.callback_attempts] == [200, 400]
    assert inter.response["data"]["content"] == "only you can see this"


@pytest.mark.asyncio
async def test_late_ack_is_refused_with_10062_and_fails_the_test() -> None:
    with pytest.raises(BotFailure, match="code 10062"):
        async with bot_env() as env:
            inter = await env.fake.invoke_command("gate", user=env.alice, channel=env.general)
            env.fake.clock.advance(3.5)
            env.bot.gate.set()
            await env.fake.wait_for(lambda: inter.callback_attempts, description="the late callback")
    assert [(a["status"], a["error"]["code"]) for a in inter.callback_attempts] == [(404, 10062)]
    assert inter.response is None and inter.late


@pytest.mark.asyncio
async def test_ack_just_inside_the_deadline_is_accepted(env: Env) -> None:
    inter = await env.fake.invoke_command("gate", user=env.alice, channel=env.general)
    env.fake.clock.advance(2.5)
    env.bot.gate.set()
    response = await inter.wait_response()
    assert response["data"]["content"] == "done" and not inter.late


async def _webhook_call(fake: FakeDiscord, method: str, inter, suffix: str, body: dict) -> tuple[int, dict]:
    url = f"{fake.api_base}/webhooks/{fake.application_id}/{inter.token}{suffix}"
    async with aiohttp.ClientSession() as session, session.request(method, url, json=body) as resp:
        return resp.status, await resp.json()


@pytest.mark.asyncio
async def test_token_edits_until_15_minutes_then_gets_50027(env: Env) -> None:
    fake = env.fake
    inter = await fake.invoke_command(
        "clip", {"url": "https://x.test/a"}, user=env.alice, channel=env.general
    )
    await inter.wait_followup()
    fake.clock.advance(15 * 60 - 1)
    status, _ = await _webhook_call(fake, "PATCH", inter, "/messages/@original", {"content": "edited"})
    assert (status, inter.original_message["content"]) == (200, "edited")
    fake.clock.advance(2)
    with fake.expect_errors(50027) as refused:
        edit = await _webhook_call(fake, "PATCH", inter, "/messages/@original", {"content": "too late"})
        followup = await _webhook_call(fake, "POST", inter, "", {"content": "too late"})
    expired = (401, {"message": "Invalid Webhook Token", "code": 50027})
    assert (edit, followup, len(refused)) == (expired, expired, 2)
    assert inter.original_message["content"] == "edited"


@pytest.mark.asyncio
async def test_unexpected_4xx_to_the_bot_fails_the_test() -> None:
    with pytest.raises(BotFailure, match="code 50035"):
        async with bot_env() as env:
            inter = await env.fake.invoke_command("toolong", user=env.alice, channel=env.general)
            await inter.wait_followup()
    assert [e.code for e in env.bot.http_errors] == [50035, 50035]


@pytest.mark.asyncio
async def test_unexpected_4xx_fails_on_leaving_even_without_a_wait() -> None:
    with pytest.raises(BotFailure, match="code 40060"):
        async with bot_env() as env:
            inter = await env.fake.invoke_command("secret", user=env.alice, channel=env.general)
            await inter.wait_response()
            url = f"{env.fake.api_base}/interactions/{inter.id}/{inter.token}/callback"
            payload = {"type": 4, "data": {"content": "again"}}
            async with aiohttp.ClientSession() as session, session.post(url, json=payload) as resp:
                assert resp.status == 400


@pytest.mark.asyncio
async def test_late_ack_is_recorded() -> None:
    async with bot_env(ack_deadline=0.2, enforce_ack_deadline=False) as env:
        inter = await env.fake.invoke_command("slow", user=env.alice, channel=env.general)
        await inter.wait_response()
        assert inter.ack_latency >= 0.3
        assert inter.late
        assert env.fake.late_interactions() == [inter]


# --------------------------------------------------------------------------
# Messages, REST, files
# --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_message_create_with_mention_gets_reply(env: Env) -> None:
    fake = env.fake
    n = len(fake.requests)
    msg = await fake.send_user_message(env.general, env.alice, f"hey {fake.bot_user.mention} clip this")
    reply_req = await fake.wait_for_request("POST", rf"^/channels/{env.general.id}/messages$", after=n)
    assert reply_req.json["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert str(reply_req.json["message_reference"]["message_id"]) == msg["id"]
    await fake.wait_for(lambda: fake.reactions_on(msg), description="reaction")
    assert fake.reactions_on(msg) == {"📎": [fake.bot_user.id]}

    seen = env.bot.seen_messages[0]
    assert seen.content.endswith("clip this") and env.bot.user in seen.mentions
    reply = fake.messages_in(env.general)[-1]
    assert reply["type"] == 19 and reply["content"] == f"Hi <@{env.alice.id}>!"
    assert reply["mentions"] == []  # allowed_mentions none => nobody pinged
    assert reply["referenced_message"]["id"] == msg["id"]


@pytest.mark.asyncio
async def test_messages_of_a_channel_the_bot_cannot_view_never_reach_it() -> None:
    async with bot_env() as env:
        fake = env.fake
        env.general.set_permissions(fake.bot_role(env.guild), deny=Perm.VIEW_CHANNEL)
        hidden = await fake.send_user_message(env.general, env.alice, f"{fake.bot_user.mention} hidden")
        await fake.edit_user_message(hidden, f"{fake.bot_user.mention} still hidden")
        await fake.delete_user_message(hidden)
        env.general.set_permissions(fake.bot_role(env.guild), allow=Perm.VIEW_CHANNEL)
        await fake.send_user_message(env.general, env.alice, "seen")
        await fake.wait_for(lambda: env.bot.seen_messages)
        assert [m.content for m in env.bot.seen_messages] == ["seen"]


@pytest.mark.asyncio
async def test_message_content_intent_is_honoured() -> None:
    async with bot_env(message_content=False) as env:
        fake = env.fake
        await fake.send_user_message(env.general, env.alice, "no mention here")
        await fake.send_user_message(env.general, env.alice, f"{fake.bot_user.mention} hi")
        await fake.wait_for(lambda: len(env.bot.seen_messages) == 2)
        assert env.bot.seen_messages[0].content == ""
        assert env.bot.seen_messages[1].content.endswith(" hi")


@pytest.mark.asyncio
async def test_a_system_message_reaches_discord_py_with_its_type_and_author(env: Env) -> None:
    fake = env.fake
    notice = await fake.send_user_message(env.general, env.alice, "budget questions", message_type=18)
    await fake.wait_for(lambda: env.bot.seen_messages, description="the message")
    seen = env.bot.seen_messages[0]
    assert (notice["type"], seen.type, seen.author.id) == (
        18,
        discord.MessageType.thread_created,
        env.alice.id,
    )


async def bots_reply(env: Env) -> dict:
    """The bot's reply to alice's mention in #general."""
    fake = env.fake
    msg = await fake.send_user_message(env.general, env.alice, f"{fake.bot_user.mention} hi")
    return await fake.wait_for_message(
        env.general, lambda m: m.get("referenced_message", {}).get("id") == msg["id"], include_existing=True
    )


@pytest.mark.asyncio
async def test_reply_with_the_ping_on_lists_the_replied_to_bot_in_mentions() -> None:
    async with bot_env(message_content=False) as env:
        fake = env.fake
        answer = await bots_reply(env)
        reply = await fake.send_user_message(env.general, env.alice, "and then?", reply_to=answer)
        assert (reply["type"], [int(m["id"]) for m in reply["mentions"]]) == (19, [fake.bot_user.id])
        assert reply["message_reference"]["message_id"] == answer["id"]
        await fake.wait_for(lambda: len(env.bot.seen_messages) == 2)
        seen = env.bot.seen_messages[1]
        assert (seen.content, seen.mentions) == ("and then?", [env.bot.user])  # no <@id>, yet pinged
        assert isinstance(seen.reference.resolved, discord.Message)
        assert (seen.reference.resolved.id, seen.reference.resolved.author) == (
            int(answer["id"]),
            env.bot.user,
        )


@pytest.mark.asyncio
async def test_reply_with_the_ping_off_mentions_nobody_and_comes_without_content() -> None:
    async with bot_env(message_content=False) as env:
        fake = env.fake
        answer = await bots_reply(env)
        reply = await fake.send_user_message(
            env.general, env.alice, "and then?", reply_to=answer, mention_author=False
        )
        assert reply["mentions"] == []
        await fake.wait_for(lambda: len(env.bot.seen_messages) == 2)
        seen = env.bot.seen_messages[1]
        assert (seen.content, seen.mentions, seen.reference.message_id) == ("", [], int(answer["id"]))
        assert seen.reference.resolved.content == f"Hi <@{env.alice.id}>!"  # the bot's own words


@pytest.mark.asyncio
async def test_reply_to_a_members_message_pings_that_member_and_carries_it_without_content() -> None:
    async with bot_env(message_content=False) as env:
        fake = env.fake
        first = await fake.send_user_message(env.general, env.mod, "lunch?")
        reply = await fake.send_user_message(
            env.general, env.alice, f"{fake.bot_user.mention} yes", reply_to=first
        )
        assert [int(m["id"]) for m in reply["mentions"]] == [fake.bot_user.id, env.mod.id]
        await fake.wait_for(lambda: len(env.bot.seen_messages) == 2)
        seen = env.bot.seen_messages[1]
        assert seen.content.endswith(" yes")
        assert (seen.reference.resolved.author.id, seen.reference.resolved.content) == (env.mod.id, "")


@pytest.mark.asyncio
async def test_reply_to_ones_own_message_pings_nobody(env: Env) -> None:
    fake = env.fake
    first = await fake.send_user_message(env.general, env.alice, "lunch?")
    reply = await fake.send_user_message(env.general, env.alice, "anyone?", reply_to=first)
    assert reply["mentions"] == []


@pytest.mark.asyncio
async def test_user_edits_and_link_previews_reach_discord_py_as_message_updates(env: Env) -> None:
    fake = env.fake
    msg = await fake.send_user_message(env.general, env.alice, "see https://news.test/a")
    await fake.wait_for(lambda: env.bot.seen_messages, description="the message")
    await fake.edit_user_message(msg, "see https://news.test/b")
    await fake.unfurl_links(msg, [{"type": "link", "url": "https://news.test/b"}])
    await fake.wait_for(lambda: len(env.bot.raw_events) == 2, description="two updates")
    edit, unfurl = env.bot.raw_events
    assert isinstance(edit, discord.RawMessageUpdateEvent)
    assert edit.cached_message is not None and edit.cached_message.content == "see https://news.test/a"
    assert edit.message.content == "see https://news.test/b" and edit.message.edited_at is not None
    assert edit.message.author.id == env.alice.id and isinstance(edit.message.author, discord.Member)
    assert isinstance(unfurl, discord.RawMessageUpdateEvent)
    assert unfurl.message.content == "see https://news.test/b"
    assert [e.url for e in unfurl.message.embeds] == ["https://news.test/b"]
    assert unfurl.message.edited_at == edit.message.edited_at


@pytest.mark.asyncio
async def test_user_deletes_reach_discord_py_as_raw_deletes(env: Env) -> None:
    fake = env.fake
    first, second, third = [
        await fake.send_user_message(env.general, env.alice, text) for text in ("one", "two", "three")
    ]
    await fake.delete_user_message(first)
    await fake.bulk_delete_user_messages(env.general, [second, third])
    await fake.wait_for(lambda: len(env.bot.raw_events) == 2, description="two deletes")
    single, bulk = env.bot.raw_events
    assert isinstance(single, discord.RawMessageDeleteEvent)
    assert (single.message_id, single.channel_id, single.guild_id) == (
        int(first["id"]),
        env.general.id,
        env.guild.id,
    )
    assert single.cached_message is not None and single.cached_message.content == "one"
    assert isinstance(bulk, discord.RawBulkMessageDeleteEvent)
    assert bulk.message_ids == {int(second["id"]), int(third["id"])}
    assert (bulk.channel_id, bulk.guild_id) == (env.general.id, env.guild.id)
    assert fake.messages_in(env.general) == []


@pytest.mark.asyncio
async def test_reply_to_a_deleted_message_is_refused_unless_it_may_go_out_as_a_plain_message(
    env: Env,
) -> None:
    fake = env.fake
    posted = await fake.send_user_message(env.general, env.alice, "gone soon")
    await fake.delete_user_message(posted)
    channel = env.bot.get_channel(env.general.id)
    gone = discord.MessageReference(message_id=int(posted["id"]), channel_id=env.general.id)
    with fake.expect_errors(50035), pytest.raises(discord.HTTPException) as refused:
        await channel.send("answer", reference=gone)
    assert refused.value.status == 400 and "Unknown message" in refused.value.text
    plain = discord.MessageReference(
        message_id=int(posted["id"]), channel_id=env.general.id, fail_if_not_exists=False
    )
    sent = await channel.send("answer", reference=plain)
    assert (sent.content, sent.reference) == ("answer", None)
    assert "message_reference" not in fake.get_message(sent.id)


@pytest.mark.asyncio
async def test_embeds_without_embed_links_are_dropped_or_refused(env: Env) -> None:
    fake = env.fake
    env.general.set_permissions(fake.bot_role(env.guild), deny=Perm.EMBED_LINKS)
    channel = env.bot.get_channel(env.general.id)
    sent = await channel.send("quotes:", embed=discord.Embed(description="a quote"))
    assert (sent.content, sent.embeds) == ("quotes:", [])
    with fake.expect_errors(50013), pytest.raises(discord.Forbidden):
        await channel.send(embed=discord.Embed(description="a quote"))
    assert [m["embeds"] for m in fake.messages_in(env.general)] == [[]]


@pytest.mark.asyncio
async def test_file_upload_reaction_and_fetch_via_rest(env: Env) -> None:
    fake = env.fake
    inter = await fake.invoke_command("announce", {"channel": env.general}, user=env.mod, channel=env.general)
    original = await inter.wait_original(lambda m: m["content"].startswith("posted"))
    post = fake.requests_to("POST", rf"^/channels/{env.general.id}/messages$")[0]
    assert post.json["content"] == "announcement"
    assert [(f.filename, f.data) for f in post.files] == [("a.bin", b"data!")]
    posted = fake.messages_in(env.general)[0]
    assert original["content"] == f"posted {posted['id']} with 1 file"
    assert fake.reactions_on(posted) == {"✅": [fake.bot_user.id]}
    async with aiohttp.ClientSession() as session, session.get(posted["attachments"][0]["url"]) as resp:
        assert await resp.read() == b"data!"

    # Take SEND_MESSAGES away in the channel: the bot gets a 403 like on Discord.
    env.general.set_permissions(fake.bot_role(env.guild), deny=Perm.SEND_MESSAGES)
    with fake.expect_errors(50013):
        inter = await fake.invoke_command(
            "announce", {"channel": env.general}, user=env.mod, channel=env.general
        )
        await inter.wait_original(lambda m: m["content"] == "no permission")
    assert env.bot.http_errors[-1].status == 403 and env.bot.http_errors[-1].code == 50013


@pytest.mark.asyncio
async def test_interaction_response_with_file(env: Env) -> None:
    fake = env.fake
    inter = await fake.invoke_command("export", user=env.alice, channel=env.general)
    await inter.wait_response()
    req = fake.requests_to("POST", r"^/interactions/")[-1]
    assert req.json["type"] == 4 and req.files[0].data == b"clip contents"
    att = inter.original_message["attachments"][0]
    assert att["filename"] == "clip.txt" and att["size"] == len(b"clip contents")


@pytest.mark.asyncio
async def test_bot_crash_fails_fast() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild()
        channel = guild.add_text_channel("general")
        alice = fake.add_user("alice")
        guild.add_member(alice)
        bot = TestBot(guild.id)

        @bot.tree.command(name="boom", description="raises", guild=discord.Object(guild.id))
        async def boom(interaction: discord.Interaction) -> None:
            raise RuntimeError("kaboom")

        with pytest.raises(BotFailure, match="kaboom"):
            async with run_bot(fake, bot) as runner:
                inter = await fake.invoke_command("boom", user=alice, channel=channel)
                with pytest.raises(BotFailure, match="kaboom"):
                    await inter.wait_response(timeout=3)
                assert runner.errors


@pytest.mark.asyncio
async def test_webhook_lifecycle_get_edit_followup_delete(env: Env) -> None:
    fake = env.fake
    inter = await fake.invoke_command("lifecycle", user=env.alice, channel=env.general)
    await fake.wait_for_request("DELETE", r"/messages/@original$")
    webhook = [
        (r.method, r.path.split("/")[-1] if "/messages/" in r.path else "", r.status)
        for r in fake.requests
        if r.path.startswith(f"/webhooks/{fake.application_id}/{inter.token}")
    ]
    f1, _f2 = inter.followup_ids
    assert webhook == [
        ("GET", "@original", 200),
        ("PATCH", "@original", 200),
        ("POST", "", 200),
        ("PATCH", str(f1), 200),
        ("POST", "", 200),
        ("DELETE", str(f1), 204),
        ("DELETE", "@original", 204),
    ]
    assert env.bot.lifecycle == {"fetched": "v1", "second_ephemeral": True}
    assert [e["body"]["content"] for e in inter.edits] == ["v2", "f1 edited"]
    assert inter.original_message is None
    assert inter.deleted_message_ids == [f1, inter.original_message_id]
    assert fake.messages_in(env.general) == []
    assert [m["content"] for m in fake.messages_in(env.general, include_ephemeral=True)] == ["f2"]


@pytest.mark.asyncio
async def test_select_menu(env: Env) -> None:
    fake = env.fake
    inter = await fake.invoke_command("pick", user=env.alice, channel=env.general)
    message = await inter.wait_original()
    with pytest.raises(InteractionNotAllowed):
        fake.build_component_payload(message, "pick:colour", user=env.alice, values=["purple"])
    with pytest.raises(InteractionNotAllowed):  # max_values=2
        fake.build_component_payload(message, "pick:colour", user=env.alice, values=["red", "green", "blue"])
    chosen = await fake.select(message, "pick:colour", ["red", "blue"], user=env.alice)
    assert chosen.payload["data"] == {
        "custom_id": "pick:colour",
        "component_type": 3,
        "values": ["red", "blue"],
    }
    assert (await chosen.wait_response())["type"] == 7
    assert message["content"] == "picked red,blue" and message["components"] == []


@pytest.mark.asyncio
async def test_user_context_menu(env: Env) -> None:
    inter = await env.fake.invoke_user_command("Inspect user", env.mod, user=env.alice, channel=env.general)
    data = inter.payload["data"]
    assert data["type"] == 2 and data["target_id"] == str(env.mod.id)
    assert str(env.mod.id) in data["resolved"]["members"]
    await inter.wait_response()
    assert inter.original_message["content"] == "mod: ['Mods']"


@pytest.mark.asyncio
async def test_deleted_channel_leaves_the_bots_cache_and_rest_answers_unknown_channel(env: Env) -> None:
    doomed = env.guild.add_text_channel("doomed")
    posted = await env.fake.send_user_message(doomed, env.alice, "soon gone")
    dguild = env.bot.get_guild(env.guild.id)
    await env.fake.wait_for(lambda: dguild.get_channel(doomed.id))
    env.guild.delete_channel(doomed)
    await env.fake.wait_for(lambda: dguild.get_channel(doomed.id) is None)
    assert env.fake.get_message(posted["id"]) is None
    with env.fake.expect_errors(10003) as seen, pytest.raises(discord.NotFound):
        await env.bot.get_partial_messageable(doomed.id).send("hi")
    assert [r.status for r in seen] == [404]


@pytest.mark.asyncio
async def test_world_changes_and_raw_dispatch_after_connect(env: Env) -> None:
    fake = env.fake
    carol = fake.add_user("carol")
    env.guild.add_member(carol)  # -> GUILD_MEMBER_ADD
    late = env.guild.add_text_channel("late")  # -> CHANNEL_CREATE
    dguild = env.bot.get_guild(env.guild.id)
    await fake.wait_for(lambda: dguild.get_member(carol.id) and dguild.get_channel(late.id))
    assert dguild.member_count == 5

    payload = {
        "id": "1234567890123456789",
        "channel_id": str(late.id),
        "guild_id": str(env.guild.id),
        "author": carol.to_payload(),
        "member": env.guild.member(carol).to_payload(with_user=False),
        "content": "raw frame",
        "timestamp": "2024-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    await fake.dispatch("MESSAGE_CREATE", payload)
    await fake.wait_for(lambda: env.bot.seen_messages)
    seen = env.bot.seen_messages[0]
    assert seen.content == "raw frame" and seen.channel.id == late.id and seen.author.id == carol.id


@pytest.mark.asyncio
async def test_privileged_intent_not_enabled_closes_4014() -> None:
    async with FakeDiscord(privileged_intents=Intent.GUILD_MEMBERS) as fake:
        guild = fake.add_guild()
        with pytest.raises(discord.PrivilegedIntentsRequired):
            async with run_bot(fake, TestBot(guild.id)):
                pass


@pytest.mark.asyncio
async def test_start_and_teardown_take_under_a_second() -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    async with bot_env() as env:
        started = loop.time()
        assert env.bot.is_ready()
    assert started - t0 < 1.0
    assert loop.time() - started < 1.0
    assert env.bot.is_closed()


# --------------------------------------------------------------------------
# Validators (no bot needed)
# --------------------------------------------------------------------------


def _errors(fn, *args, **kwargs) -> dict:
    with pytest.raises(ApiError) as info:
        fn(*args, **kwargs)
    return info.value.body()


def test_message_of_blank_content_is_refused_as_empty() -> None:
    assert _errors(validate_message_body, {"content": " \n\t"})["code"] == 50006


def test_embed_link_that_is_not_a_web_address_is_refused() -> None:
    validate_message_body({"embeds": [{"title": "t", "url": "https://news.test/a?b=c#d"}]})
    for url in ("javascript:alert(1)", "ftp://news.test/a", "https://", "https://news.test/a b", "news.test"):
        errs = _errors(validate_message_body, {"embeds": [{"title": "t", "url": url}]})["errors"]
        assert errs["embeds"]["0"]["url"]["_errors"][0]["code"] == "URL_TYPE_INVALID_URL"


def test_message_validation_limits() -> None:
    validate_message_body({"content": "x" * 2000})
    assert _errors(validate_message_body, {})["code"] == 50006
    assert "content" in _errors(validate_message_body, {"content": "x" * 2001})["errors"]

    embed = {"title": "t" * 257, "description": "d" * 4097, "footer": {"text": "f" * 2049}}
    errs = _errors(validate_message_body, {"embeds": [embed]})["errors"]["embeds"]["0"]
    assert set(errs) == {"title", "description", "footer"}
    fields = [{"name": "n" * 257, "value": "v" * 1025}] + [{"name": "n", "value": "v"}] * 25
    errs = _errors(validate_message_body, {"embeds": [{"fields": fields}]})["errors"]["embeds"]["0"]["fields"]
    assert "_errors" in errs and set(errs["0"]) == {"name", "value"}
    big = [{"description": "d" * 4000}, {"description": "d" * 2001}]
    assert "MAX_EMBED_SIZE_EXCEEDED" in str(_errors(validate_message_body, {"embeds": big}))
    assert "embeds" in _errors(validate_message_body, {"embeds": [{"title": "t"}] * 11})["errors"]

    def button(i: int, label: str = "ok") -> dict:
        return {"type": 2, "style": 1, "label": label, "custom_id": f"b{i}"}

    row = {"type": 1, "components": [button(i) for i in range(6)]}
    assert "components" in _errors(validate_message_body, {"components": [row]})["errors"]
    rows = [{"type": 1, "components": [button(i)]} for i in range(6)]
    assert "components" in _errors(validate_message_body, {"components": rows})["errors"]
    long_label = {"type": 1, "components": [button(0, "l" * 81)]}
    assert "label" in str(_errors(validate_message_body, {"components": [long_label]}))
    long_id = {"type": 1, "components": [{**button(0), "custom_id": "c" * 101}]}
    assert "custom_id" in str(_errors(validate_message_body, {"components": [long_id]}))
    dup = {"type": 1, "components": [button(0), button(0)]}
    assert "DUPLICATED" in str(_errors(validate_message_body, {"components": [dup]}))
    options = [{"label": str(i), "value": str(i)} for i in range(26)]
    select = {"type": 1, "components": [{"type": 3, "custom_id": "s", "options": options}]}
    assert "options" in str(_errors(validate_message_body, {"components": [select]}))

    validate_autocomplete({"choices": [{"name": "n", "value": "v"}] * 25})
    assert "choices" in str(_errors(validate_autocomplete, {"choices": [{"name": "n", "value": "v"}] * 26}))
    assert "name" in str(_errors(validate_autocomplete, {"choices": [{"name": "n" * 101, "value": "v"}]}))
    text_input = {"type": 4, "custom_id": "t", "style": 1, "label": "L"}
    validate_modal(
        {"custom_id": "m", "title": "t" * 45, "components": [{"type": 1, "components": [text_input]}]}
    )
    assert "title" in str(
        _errors(
            validate_modal,
            {"custom_id": "m", "title": "t" * 46, "components": [{"type": 1, "components": [text_input]}]},
        )
    )


# --------------------------------------------------------------------------
# Threads and forums
# --------------------------------------------------------------------------


async def _bot_thread(env: Env, thread_id: int) -> discord.Thread:
    guild = env.bot.get_guild(env.guild.id)
    assert guild is not None
    return await env.fake.wait_for(lambda: guild.get_thread(thread_id), description="the thread in the cache")


async def _reply_in(env: Env, channel: FakeChannel, message: dict) -> dict:
    return await env.fake.wait_for_message(
        channel,
        lambda m: (m.get("referenced_message") or {}).get("id") == message["id"],
        include_existing=True,
    )


@pytest.mark.asyncio
async def test_guild_create_carries_only_the_active_threads_the_bot_may_view() -> None:
    async with FakeDiscord() as fake:
        guild = fake.add_guild("Clip Club")
        general = guild.add_text_channel("general")
        alice = fake.add_user("alice")
        guild.add_member(alice)
        public = await fake.start_thread(general, alice, "public")
        await fake.start_thread(general, alice, "private", private=True)
        archived = await fake.start_thread(general, alice, "archived")
        await fake.archive_thread(archived)
        bot = TestBot(guild.id)
        async with run_bot(fake, bot):
            threads = bot.get_guild(guild.id).threads
            assert [(t.id, t.name, t.parent_id, t.type) for t in threads] == [
                (public.id, "public", general.id, discord.ChannelType.public_thread)
            ]


@pytest.mark.asyncio
async def test_a_new_thread_reaches_the_bot_as_thread_create(env: Env) -> None:
    thread = await env.fake.start_thread(env.general, env.alice, "questions")
    cached = await _bot_thread(env, thread.id)
    assert (cached.name, cached.parent, cached.owner_id, cached.archived) == (
        "questions",
        env.bot.get_channel(env.general.id),
        env.alice.id,
        False,
    )
    assert [kind for kind, _ in env.bot.thread_events] == ["create"]


@pytest.mark.asyncio
async def test_a_thread_started_from_a_message_takes_the_messages_id(env: Env) -> None:
    message = await env.fake.send_user_message(env.general, env.alice, "let's discuss")
    thread = await env.fake.start_thread(env.general, env.alice, "discussion", message=message)
    assert thread.id == int(message["id"])
    assert (message["thread"]["id"], message["flags"] & 32) == (message["id"], 32)


@pytest.mark.asyncio
async def test_a_mention_in_a_thread_is_answered_in_the_thread_and_the_bot_joins_it(env: Env) -> None:
    fake = env.fake
    thread = await fake.start_thread(env.general, env.alice, "questions")
    asked = await fake.send_user_message(thread, env.alice, f"{fake.bot_user.mention} hello")
    reply = await _reply_in(env, thread, asked)
    assert (reply["channel_id"], reply["content"]) == (str(thread.id), f"Hi <@{env.alice.id}>!")
    assert set(thread.thread_members) == {env.alice.id, fake.bot_user.id}
    cached = await _bot_thread(env, thread.id)
    await fake.wait_for(lambda: cached.guild.get_thread(thread.id).me, description="the bot's membership")


@pytest.mark.asyncio
async def test_sending_in_a_thread_needs_no_send_messages_in_the_parent(env: Env) -> None:
    fake = env.fake
    env.general.set_permissions(fake.bot_role(env.guild), deny=Perm.SEND_MESSAGES)
    env.general.set_permissions(env.guild.everyone_role, deny=Perm.SEND_MESSAGES)
    thread = await fake.start_thread(env.general, env.alice, "questions")
    asked = await fake.send_user_message(thread, env.alice, f"{fake.bot_user.mention} hello")
    assert (await _reply_in(env, thread, asked))["content"] == f"Hi <@{env.alice.id}>!"


@pytest.mark.asyncio
async def test_sending_in_a_thread_without_send_messages_in_threads_is_refused_with_50013(env: Env) -> None:
    fake = env.fake
    env.general.set_permissions(env.guild.everyone_role, deny=Perm.SEND_MESSAGES_IN_THREADS)
    thread = await fake.start_thread(env.general, env.alice, "questions")
    await _bot_thread(env, thread.id)
    with fake.expect_errors(50013) as seen, pytest.raises(discord.Forbidden):
        await env.bot.get_partial_messageable(thread.id, guild_id=env.guild.id).send("hi")
    assert [r.path for r in seen] == [f"/channels/{thread.id}/messages"]


@pytest.mark.asyncio
async def test_a_private_thread_is_hidden_from_the_bot_until_a_member_mentions_it(env: Env) -> None:
    fake = env.fake
    thread = await fake.start_thread(env.general, env.alice, "secret", private=True)
    await fake.send_user_message(thread, env.alice, "not for the bot")
    asked = await fake.send_user_message(thread, env.alice, f"{fake.bot_user.mention} now you")
    await _reply_in(env, thread, asked)
    assert [m.content for m in env.bot.seen_messages] == [f"{fake.bot_user.mention} now you"]
    assert {kind for kind, _ in env.bot.thread_events} == {"join"}  # THREAD_CREATE, THREAD_MEMBERS_UPDATE


@pytest.mark.asyncio
async def test_a_private_thread_is_visible_to_a_bot_with_manage_threads(env: Env) -> None:
    fake = env.fake
    fake.bot_role(env.guild).permissions |= Perm.MANAGE_THREADS
    thread = await fake.start_thread(env.general, env.alice, "secret", private=True)
    assert (await _bot_thread(env, thread.id)).type == discord.ChannelType.private_thread


@pytest.mark.asyncio
async def test_an_archived_thread_leaves_the_cache_and_a_message_unarchives_it(env: Env) -> None:
    fake = env.fake
    thread = await fake.start_thread(env.general, env.alice, "old")
    await _bot_thread(env, thread.id)
    await fake.archive_thread(thread)
    guild = env.bot.get_guild(env.guild.id)
    await fake.wait_for(lambda: guild.get_thread(thread.id) is None, description="the thread gone")
    asked = await fake.send_user_message(thread, env.alice, f"{fake.bot_user.mention} wake up")
    await _reply_in(env, thread, asked)
    assert (thread.archived, (await _bot_thread(env, thread.id)).archived) == (False, False)


@pytest.mark.asyncio
async def test_a_renamed_thread_reaches_the_bots_cache_by_thread_update(env: Env) -> None:
    fake = env.fake
    thread = await fake.start_thread(env.general, env.alice, "old name")
    cached = await _bot_thread(env, thread.id)
    await fake.rename_thread(thread, "new name")
    await fake.wait_for(lambda: cached.name == "new name", description="the thread renamed")
    assert thread.name == "new name"


@pytest.mark.asyncio
async def test_a_locked_archived_thread_refuses_members_without_manage_threads(env: Env) -> None:
    fake = env.fake
    thread = await fake.start_thread(env.general, env.alice, "closed")
    await fake.archive_thread(thread, locked=True)
    with pytest.raises(FakeDiscordError, match="locked"):
        await fake.send_user_message(thread, env.alice, "let me in")
    assert thread.archived


@pytest.mark.asyncio
async def test_a_locked_archived_thread_refuses_the_bot_with_50083(env: Env) -> None:
    fake = env.fake
    thread = await fake.start_thread(env.general, env.alice, "closed")
    await fake.archive_thread(thread, locked=True)
    with fake.expect_errors(50083), pytest.raises(discord.HTTPException, match="Thread is archived"):
        await env.bot.get_partial_messageable(thread.id, guild_id=env.guild.id).send("hi")


@pytest.mark.asyncio
async def test_the_bot_sending_to_an_archived_thread_unarchives_it(env: Env) -> None:
    fake = env.fake
    thread = await fake.start_thread(env.general, env.alice, "old")
    await fake.archive_thread(thread)
    await env.bot.get_partial_messageable(thread.id, guild_id=env.guild.id).send("hi")
    assert ((await _bot_thread(env, thread.id)).archived, thread.archived) == (False, False)


@pytest.mark.asyncio
async def test_slash_commands_are_not_offered_in_an_archived_thread(env: Env) -> None:
    thread = await env.fake.start_thread(env.general, env.alice, "old")
    await env.fake.archive_thread(thread)
    with pytest.raises(InteractionNotAllowed, match="archived thread"):
        await env.fake.invoke_command("secret", user=env.alice, channel=thread)


@pytest.mark.asyncio
async def test_an_interaction_in_a_thread_is_answered_in_the_thread(env: Env) -> None:
    thread = await env.fake.start_thread(env.general, env.alice, "questions")
    inter = await env.fake.invoke_command("clip", {"url": "https://x.test"}, user=env.alice, channel=thread)
    await inter.wait_response()
    followup = await inter.wait_followup()
    assert (inter.payload["channel"]["type"], followup["channel_id"]) == (11, str(thread.id))


@pytest.mark.asyncio
async def test_a_forum_post_is_a_thread_whose_starter_message_has_its_id(env: Env) -> None:
    fake = env.fake
    forum = env.guild.add_forum_channel("newsroom", tags=["politics", "sport"])
    thread, starter = await fake.create_forum_post(
        forum, env.alice, "Dam opens", "The dam opened.", tags=["sport"]
    )
    await fake.wait_for(lambda: env.bot.seen_messages, description="the starter message")
    seen = env.bot.seen_messages[0]
    assert (seen.id, seen.channel.id, starter["id"]) == (thread.id, thread.id, str(thread.id))
    assert isinstance(seen.channel, discord.Thread) and isinstance(seen.channel.parent, discord.ForumChannel)
    assert (seen.channel.name, [t.name for t in seen.channel.applied_tags]) == ("Dam opens", ["sport"])


@pytest.mark.asyncio
async def test_a_forum_channel_refuses_messages_with_50008(env: Env) -> None:
    forum = env.guild.add_forum_channel("newsroom")
    await env.fake.wait_for(lambda: env.bot.get_channel(forum.id), description="the forum")
    with env.fake.expect_errors(50008), pytest.raises(discord.HTTPException, match="non-text channel"):
        await env.bot.get_partial_messageable(forum.id, guild_id=env.guild.id).send("hi")


@pytest.mark.asyncio
async def test_deleting_a_thread_sends_thread_delete_and_no_message_deletes(env: Env) -> None:
    fake = env.fake
    forum = env.guild.add_forum_channel("newsroom")
    thread, starter = await fake.create_forum_post(forum, env.alice, "Post", "text")
    await _bot_thread(env, thread.id)
    await fake.delete_thread(thread)
    await fake.wait_for(lambda: any(kind == "delete" for kind, _ in env.bot.thread_events))
    payload = next(p for kind, p in env.bot.thread_events if kind == "delete")
    assert (payload.thread_id, payload.parent_id) == (thread.id, forum.id)  # type: ignore[attr-defined]
    assert (fake.get_message(starter), env.bot.raw_events) == (None, [])


@pytest.mark.asyncio
async def test_thread_list_sync_brings_the_threads_of_a_channel_the_bot_gains(env: Env) -> None:
    fake = env.fake
    env.general.set_permissions(fake.bot_role(env.guild), deny=Perm.VIEW_CHANNEL)
    thread = await fake.start_thread(env.general, env.alice, "hidden")
    env.general.set_permissions(fake.bot_role(env.guild), allow=Perm.VIEW_CHANNEL)
    await fake.sync_threads(env.guild, [env.general])
    assert (await _bot_thread(env, thread.id)).name == "hidden"


@pytest.mark.asyncio
async def test_adding_a_member_to_a_thread_sends_thread_members_update(env: Env) -> None:
    fake = env.fake
    thread = await fake.start_thread(env.general, env.alice, "questions")
    await _bot_thread(env, thread.id)
    await fake.add_thread_member(thread, env.mod)
    await fake.wait_for(lambda: any(kind == "member_join" for kind, _ in env.bot.thread_events))
    joined = next(m for kind, m in env.bot.thread_events if kind == "member_join")
    assert (joined.id, joined.thread_id) == (env.mod.id, thread.id)  # type: ignore[attr-defined]
