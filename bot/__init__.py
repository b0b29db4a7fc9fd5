"""Clippings on Discord: slash commands and mentions over the `index` core."""
