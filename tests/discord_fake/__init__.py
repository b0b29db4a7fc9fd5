"""A fake Discord (REST v10 + gateway) server for driving an unmodified discord.py bot.

The fake is an aiohttp web server bound to ``127.0.0.1`` on a random free port.
discord.py is pointed at it by patching two class attributes (``Route.BASE`` and
``DiscordWebSocket.DEFAULT_GATEWAY``); everything else -- login, gateway
handshake, heartbeats, command sync, interaction callbacks, webhook followups,
channel REST -- goes through discord.py's own client code over real sockets.

The fake keeps a small "world" (users, guilds, roles, channels, members,
messages, registered application commands), records every request the bot
makes, validates message/modal/autocomplete bodies against Discord's limits and
answers with Discord-style errors, and gives tests async helpers that build
realistic gateway payloads (slash commands, autocomplete, buttons, selects,
modals, context menus, user messages, reactions).

Layout
------
* ``constants``: Discord's enums, flags and the fake's defaults.
* ``errors``: the fake's exceptions and Discord-style API errors.
* ``models``: the world (users, roles, channels, members, guilds) and request records.
* ``validation``: Discord's documented limits on bot payloads.
* ``rest``: HTTP plumbing and REST routes (``RestMixin``).
* ``messages``: the message model and user-side activity (``MessagesMixin``).
* ``gateway``: sessions, IDENTIFY/RESUME, heartbeats, dispatch (``GatewayMixin``).
* ``interactions``: :class:`FakeInteraction`, callbacks, webhooks, payload builders (``InteractionsMixin``).
* ``threads``: threads, forum posts and their events (``ThreadsMixin``).
* ``server``: :class:`FakeDiscord`, the mixins combined with lifecycle, waiting and world building.
* ``runner``: :func:`run_bot` / :class:`BotRunner`.

Quick start
-----------
.. code-block:: python

    import pytest, pytest_asyncio
    from tests.discord_fake import FakeDiscord, Perm, run_bot

    @pytest_asyncio.fixture
    async def fake():
        async with FakeDiscord() as fake:          # starts + stops the server
            yield fake

    @pytest_asyncio.fixture
    async def world(fake):
        guild = fake.add_guild("Test Guild")
        general = guild.add_text_channel("general")
        alice = fake.add_user("alice")
        guild.add_member(alice)
        mods = guild.add_role("Mods", permissions=Perm.MANAGE_MESSAGES)
        bob = fake.add_user("bob")
        guild.add_member(bob, roles=[mods])
        return guild, general, alice, bob

    @pytest_asyncio.fixture
    async def runner(fake, world):
        bot = make_my_bot()                         # any discord.Client / commands.Bot
        # run_bot patches discord.py, starts bot.start(fake.token) in a task,
        # waits for on_ready, and on exit closes the bot and restores the patches.
        # Any exception in the bot task or any ERROR logged under the "discord"
        # logger fails the test (and makes pending waits fail immediately).
        async with run_bot(fake, bot) as runner:
            yield runner

    @pytest.mark.asyncio
    async def test_ping(fake, world, runner):
        guild, general, alice, bob = world
        inter = await fake.invoke_command("ping", user=alice, channel=general)
        response = await inter.wait_response()     # the callback body the bot POSTed
        assert response["type"] == 4
        assert inter.original_message["content"] == "pong"
        assert not inter.late

``run_bot`` sets ``client._connection.guild_ready_timeout`` (default 0.05 s) so
``on_ready`` fires quickly; the whole start/stop cycle takes well under a second.
On exit it first waits (up to 1 s) for discord.py's handler tasks to finish, so
the bot's last reactions are captured. Build the world (guilds, channels,
members) *before* ``run_bot`` if the bot needs it at startup (e.g. to sync
guild commands); later changes are dispatched as gateway events.
``@pytest.mark.asyncio`` / ``pytest_asyncio.fixture`` work in strict and auto mode.

Main API
--------
Objects (``FakeUser``, ``FakeMember``, ``FakeChannel``, ``FakeRole``, message
dicts) and plain snowflake ints are accepted wherever a user/channel/message is
expected. Messages are Discord JSON dicts (ids are strings), kept live: edits by
the bot show up in dicts you already hold.

* :class:`FakeDiscord` -- server + world. ``add_user``, ``add_guild`` ->
  :class:`FakeGuild` (``add_role``, ``add_text_channel``, ``add_channel``, ``delete_channel``,
  ``add_member``, ``member``, ``permissions_for``), ``FakeChannel.set_permissions``
  (overwrites), ``bot_role(guild)``, ``dm_channel(user)``,
  ``add_attachment(filename, bytes)`` / ``serve_bytes`` (served over HTTP, so
  ``Attachment.read()`` works).
* Gateway: ``await dispatch(event, data)`` (any raw DISPATCH), ``drop_connection
  (code=4000)`` (client RESUMEs), ``send_reconnect()``, ``invalidate_session()``,
  ``heartbeats`` / ``heartbeat_count``, ``identifies`` / ``identify_count``,
  ``resumes`` / ``resume_count``, ``intents``, ``wait_for_heartbeats(n)``,
  ``wait_until_connected()``.
* Interactions -- each returns a :class:`FakeInteraction` once the
  INTERACTION_CREATE frame was written: ``invoke_command("article add",
  {...}, user=, channel=)``, ``autocomplete(cmd, options, focused, ...)``,
  ``click_button(message, custom_id, user=)``, ``select(message, custom_id,
  values, user=)``, ``submit_modal(source_interaction, {custom_id: value})``,
  ``invoke_message_command(name, message, user=)``, ``invoke_user_command(name,
  target, user=, channel=)``; low level ``build_command_payload``,
  ``build_component_payload``, ``build_modal_submit_payload``,
  ``build_context_menu_payload`` and ``send_interaction(payload)``. Option
  types come from the command schema the bot synced.
* :class:`FakeInteraction`: ``payload``, ``response`` (accepted callback body),
  ``response_type``, ``callback_attempts``, ``ack_latency``, ``late``,
  ``is_ephemeral``, ``modal``, ``choices``, ``original_message``,
  ``followups``, ``edits``, ``deleted_message_ids``; ``await wait_response()``,
  ``wait_followup(i)``, ``wait_edit(i)``, ``wait_original(predicate)``.
* Threads and forums: ``guild.add_forum_channel(name, tags=[...])``, ``await
  start_thread(channel, author, name, message=, private=)`` (THREAD_CREATE),
  ``create_forum_post(forum, author, name, content, tags=)`` -> (thread, starter message),
  ``archive_thread(thread, locked=)`` / ``unarchive_thread`` (THREAD_UPDATE),
  ``delete_thread`` (THREAD_DELETE), ``add_thread_member`` / ``remove_thread_member``
  (THREAD_MEMBERS_UPDATE), ``sync_threads(guild, channels)`` (THREAD_LIST_SYNC); a thread is a
  :class:`FakeChannel` (``is_thread``, ``archived``, ``locked``, ``thread_members``) usable
  wherever a channel is.
* User activity: ``send_user_message(channel, author, content, reply_to=, mention_author=,
  attachments=)``, ``edit_user_message(message, content, attachments=)``,
  ``unfurl_links(message, embeds)`` (Discord's own update adding link
  previews), ``delete_user_message(message)``,
  ``bulk_delete_user_messages(channel, messages)``,
  ``add_user_reaction(message, user, emoji)``.
* Inspection: ``requests`` (:class:`RecordedRequest`: method, path, query, json,
  files, headers, status, response), ``requests_to(method, path_regex)``,
  ``error_responses``, ``unhandled_requests``, ``command_syncs``
  (:class:`CommandSync`), ``registered_commands(guild)``, ``messages_in(channel,
  include_ephemeral=False)``, ``get_message(id)``, ``reactions_on(message)``,
  ``interactions``, ``late_interactions()``, ``presence_updates``.
* Waiting: ``wait_for(predicate)``, ``wait_for_request(method, path_regex,
  after=index)``, ``wait_for_message(channel, predicate)``. All are woken by
  the fake's state changes (no fixed sleeps), fail immediately with
  :class:`BotFailure` once the bot crashed/logged an error, and raise
  :class:`WaitTimeout` after ``default_timeout`` (5 s).
* :func:`run_bot` / :class:`BotRunner` -- run a client against the fake:
  ``errors``, ``take_errors()``, ``wait_idle()``, ``wait_for_error()``;
  ``fail_on_errors=False`` for tests that provoke errors on purpose.
* :meth:`FakeDiscord.patch_discord` -- the bare patch context manager.
* Validators usable on their own: :func:`validate_message_body`,
  :func:`validate_modal`, :func:`validate_autocomplete`,
  :func:`validate_commands` (raise :class:`ApiError`).

Behaviour modelled after real Discord
-------------------------------------
* ``Authorization: Bot <token>`` is required on REST (401 otherwise) and the
  IDENTIFY token must match (close 4004). Privileged intents not enabled in
  ``FakeDiscord(privileged_intents=...)`` close the gateway with 4014.
* Message-ish bodies are validated (content 2000, embeds 10 / title 256 /
  description 4096 / 25 fields / field name 256 / value 1024 / footer 2048 /
  author 256 / 6000 total, 5 action rows, 5 buttons per row, selects alone in
  a row, button label 80, custom_id 100, select options 25, duplicate
  custom_ids, empty messages); modals (title 45, 1-5 components, text input
  limits); autocomplete (25 choices, name 1-100); command sync payloads.
  Violations answer ``400 {"code": 50035, "message": "Invalid Form Body",
  "errors": {...}}`` exactly like Discord (discord.py raises HTTPException).
* Guild command routes answer 404/10004 "Unknown Guild" for a guild the fake
  does not know, and 403/50001 "Missing Access" for one the bot is not a
  member of (as Discord does for a server the app was not invited to).
* Interaction callbacks: only response types valid for the interaction type
  are accepted; a second callback answers ``400`` code 40060 ("Interaction has
  already been acknowledged."); the ack latency is recorded and a callback
  later than ``ack_deadline`` (3 s) marks the interaction ``late`` and is
  rejected with 404/10062 (``enforce_ack_deadline=False`` only records it).
* The interaction token lives ``token_lifetime`` (15 min): later webhook
  edits, followups, reads and deletes answer 401/50027 "Invalid Webhook
  Token". Both limits are timed by ``fake.clock`` (:class:`FakeClock`), which
  a test can ``advance(seconds)`` instead of sleeping.
* Any 4xx the fake answers to the bot (API or served files) fails the test:
  pending and later waits raise :class:`BotFailure` and leaving ``async with
  FakeDiscord()`` raises. A test that provokes one on purpose wraps the step
  in ``with fake.expect_errors(code_or_status, ...):``. Served-file requests
  are recorded in ``file_requests``.
* After a type-5 defer, the first followup replaces the "thinking" message
  (same id, keeps the defer's ephemerality), as Discord does.
* Bot permissions are enforced on channel REST (send/reply/attach, reactions,
  deleting/editing others' messages) with 403 code 50013, computed from roles
  and channel overwrites. ``default_member_permissions``, ``contexts`` /
  ``dm_permission`` and VIEW_CHANNEL/USE_APPLICATION_COMMANDS are enforced
  when a test tries to invoke a command (raises :class:`InteractionNotAllowed`),
  since discord.py does not check them itself.
* Messages the bot creates/edits/deletes/reacts to are echoed back over the
  gateway (MESSAGE_CREATE/UPDATE/DELETE, MESSAGE_REACTION_ADD) when the bot's
  intents ask for them; ephemeral messages are never echoed.

* Without EMBED_LINKS in a channel, the bot's message with content is sent with its embeds
  dropped (no error), and one with only embeds is refused with 403/50013, as Discord does.

* Users' message events (create, edit, delete, bulk delete) reach the bot only from channels
  it may view (VIEW_CHANNEL), as on Discord.

* ``mentions`` of a stored bot message list only users that would actually be
  pinged under its ``allowed_mentions`` (replies ping by default only when no
  ``allowed_mentions`` was sent) -- assert on ``requests`` for exact bodies.

* Threads (types 10/11/12) and forums (type 15) as in API v10: GUILD_CREATE ``threads`` holds
  the active threads the bot may view; a thread started from a message and a forum post's
  starter message share the thread's id; threads take their parent's permissions, sending
  there takes SEND_MESSAGES_IN_THREADS (not SEND_MESSAGES), and a private thread is seen only
  by its members and by those with MANAGE_THREADS (a member's mention adds the bot to it:
  THREAD_CREATE + THREAD_MEMBERS_UPDATE). A message to an archived thread unarchives it
  (THREAD_UPDATE) unless it is locked and the sender lacks MANAGE_THREADS (the bot gets
  400/50083; a locked active thread 403/160005); the bot's edits and reactions there answer
  400/50083, and no slash command is offered there. A forum channel refuses messages
  (400/50008). Posting in a thread joins it.

Not modelled: rate limits (no 429s), thread REST routes (start, join, list, edit threads),
auto-archiving by time, THREAD_MEMBER_UPDATE, the THREAD_CREATED/THREAD_STARTER_MESSAGE system
messages, media channels, stickers, polls, voice,
zlib compression, more than one shard, attachment size limits, message-content stripping in REST (only on the gateway),
replaying already-sent events on RESUME (only events queued while
disconnected are delivered).
"""

from __future__ import annotations

from .clock import FakeClock
from .constants import CallbackType, ChannelType, Intent, InteractionType, Perm
from .errors import ApiError, BotFailure, FakeDiscordError, InteractionNotAllowed, WaitTimeout
from .interactions import FakeInteraction
from .models import (
    CommandSync,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    RecordedRequest,
    UploadedFile,
)
from .runner import BotRunner, run_bot
from .server import FakeDiscord
from .validation import validate_autocomplete, validate_commands, validate_message_body, validate_modal

__all__ = [
    "ApiError",
    "BotFailure",
    "BotRunner",
    "CallbackType",
    "ChannelType",
    "CommandSync",
    "FakeChannel",
    "FakeClock",
    "FakeDiscord",
    "FakeDiscordError",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "Intent",
    "InteractionNotAllowed",
    "InteractionType",
    "Perm",
    "RecordedRequest",
    "UploadedFile",
    "WaitTimeout",
    "run_bot",
    "validate_autocomplete",
    "validate_commands",
    "validate_message_body",
    "validate_modal",
]
