"""Who may do what: the moderator check used by every moderators' command."""

from __future__ import annotations

import discord
from discord import app_commands

MODERATOR = discord.Permissions(manage_messages=True)
"""Moderators are members with Manage Messages, in a server."""


def is_moderator(interaction: discord.Interaction) -> bool:
    """Checked in code: Discord's default_member_permissions is only a hint that servers can change."""
    return interaction.guild_id is not None and interaction.permissions.manage_messages


def require_moderator(interaction: discord.Interaction) -> None:
    if not is_moderator(interaction):
        raise app_commands.MissingPermissions(["manage_messages"])
