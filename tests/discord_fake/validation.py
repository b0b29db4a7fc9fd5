"""Validation of bot payloads against Discord's documented limits."""

from __future__ import annotations

import collections
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .constants import (
    _SELECT_TYPES,
    IS_COMPONENTS_V2,
)
from .errors import (
    ApiError,
    _FormErrors,
)

# --------------------------------------------------------------------------
# Validation (Discord's documented limits)
# --------------------------------------------------------------------------


def _check_str(
    errs: _FormErrors,
    path: Sequence[str | int],
    value: Any,
    maximum: int,
    minimum: int = 0,
    *,
    required: bool = False,
) -> None:
    if value is None:
        if required:
            errs.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        return
    if not isinstance(value, str):
        errs.add(path, "BASE_TYPE_STRING", "Must be a string.")
        return
    n = len(value)
    if minimum > 0 and (n < minimum or n > maximum):
        errs.add(
            path,
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between {minimum} and {maximum} in length.",
        )
    elif n > maximum:
        errs.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")


def _check_count(
    errs: _FormErrors, path: Sequence[str | int], items: Any, maximum: int, minimum: int = 0
) -> None:
    if not isinstance(items, list):
        errs.add(path, "BASE_TYPE_ARRAY", "Must be an array.")
        return
    if minimum > 0 and (len(items) < minimum or len(items) > maximum):
        errs.add(
            path,
            "BASE_TYPE_BAD_LENGTH",
            f"Must be between {minimum} and {maximum} in length.",
        )
    elif len(items) > maximum:
        errs.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {maximum} or fewer in length.")


_WEB_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.IGNORECASE)


def _check_url(errs: _FormErrors, path: Sequence[str | int], value: Any) -> None:
    """An embed's link: Discord refuses one that is not an http(s) address with a host, or has spaces."""
    if value is None:
        return
    if not isinstance(value, str) or not _WEB_URL.fullmatch(value):
        errs.add(path, "URL_TYPE_INVALID_URL", "Not a well formed URL.")


def _validate_embeds(errs: _FormErrors, embeds: Any) -> None:
    _check_count(errs, ["embeds"], embeds, 10)
    if not isinstance(embeds, list):
        return
    total = 0
    for i, embed in enumerate(embeds):
        p: list[str | int] = ["embeds", i]
        if not isinstance(embed, dict):
            errs.add(p, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        _check_str(errs, [*p, "title"], embed.get("title"), 256)
        _check_url(errs, [*p, "url"], embed.get("url"))
        _check_str(errs, [*p, "description"], embed.get("description"), 4096)
        total += len(embed.get("title") or "") + len(embed.get("description") or "")
        fields = embed.get("fields") or []
        _check_count(errs, [*p, "fields"], fields, 25)
        for j, field in enumerate(fields if isinstance(fields, list) else []):
            fp = [*p, "fields", j]
            _check_str(errs, [*fp, "name"], field.get("name"), 256, 1, required=True)
            _check_str(errs, [*fp, "value"], field.get("value"), 1024, 1, required=True)
            total += len(field.get("name") or "") + len(field.get("value") or "")
        footer = embed.get("footer")
        if footer:
            _check_str(errs, [*p, "footer", "text"], footer.get("text"), 2048, required=True)
            total += len(footer.get("text") or "")
        author = embed.get("author")
        if author:
            _check_str(errs, [*p, "author", "name"], author.get("name"), 256, required=True)
            total += len(author.get("name") or "")
    if total > 6000:
        errs.add(["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")


def _validate_interactive(
    errs: _FormErrors, comp: dict, path: list[str | int], custom_ids: list[str]
) -> None:
    ctype = comp.get("type")
    if ctype == 2:  # button
        style = comp.get("style")
        if style not in (1, 2, 3, 4, 5, 6):
            errs.add([*path, "style"], "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4, 5, 6).")
        _check_str(errs, [*path, "label"], comp.get("label"), 80)
        if not comp.get("label") and not comp.get("emoji"):
            errs.add(path, "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "A label or emoji is required")
        if style == 5:
            _check_str(errs, [*path, "url"], comp.get("url"), 512, 1, required=True)
            if "custom_id" in comp:
                errs.add(
                    [*path, "custom_id"],
                    "BUTTON_COMPONENT_CUSTOM_ID_NOT_ALLOWED",
                    "A custom id cannot be set on link buttons",
                )
        elif style != 6:
            _check_str(errs, [*path, "custom_id"], comp.get("custom_id"), 100, 1, required=True)
            if isinstance(comp.get("custom_id"), str):
                custom_ids.append(comp["custom_id"])
    elif ctype in _SELECT_TYPES:
        _check_str(errs, [*path, "custom_id"], comp.get("custom_id"), 100, 1, required=True)
        if isinstance(comp.get("custom_id"), str):
            custom_ids.append(comp["custom_id"])
        _check_str(errs, [*path, "placeholder"], comp.get("placeholder"), 150)
        min_values = comp.get("min_values", 1)
        max_values = comp.get("max_values", 1)
        if not isinstance(min_values, int) or not 0 <= min_values <= 25:
            errs.add([*path, "min_values"], "NUMBER_TYPE_MAX", "int value should be <= 25 and >= 0.")
        if not isinstance(max_values, int) or not 1 <= max_values <= 25:
            errs.add([*path, "max_values"], "NUMBER_TYPE_MAX", "int value should be <= 25 and >= 1.")
        if ctype == 3:
            options = comp.get("options")
            _check_count(errs, [*path, "options"], options, 25, 1)
            for k, opt in enumerate(options if isinstance(options, list) else []):
                op = [*path, "options", k]
                _check_str(errs, [*op, "label"], opt.get("label"), 100, 1, required=True)
                _check_str(errs, [*op, "value"], opt.get("value"), 100, 1, required=True)
                _check_str(errs, [*op, "description"], opt.get("description"), 100)
            if isinstance(options, list) and isinstance(max_values, int) and max_values > len(options):
                errs.add(
                    [*path, "max_values"],
                    "SELECT_COMPONENT_MAX_VALUES_TOO_HIGH",
                    "max_values must be less than or equal to the number of options",
                )
    elif ctype == 4:
        _validate_text_input(errs, comp, path)
        if isinstance(comp.get("custom_id"), str):
            custom_ids.append(comp["custom_id"])


def _validate_text_input(errs: _FormErrors, comp: dict, path: list[str | int]) -> None:
    _check_str(errs, [*path, "custom_id"], comp.get("custom_id"), 100, 1, required=True)
    if comp.get("style") not in (1, 2):
        errs.add([*path, "style"], "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
    _check_str(errs, [*path, "label"], comp.get("label"), 45)
    _check_str(errs, [*path, "placeholder"], comp.get("placeholder"), 100)
    _check_str(errs, [*path, "value"], comp.get("value"), 4000)
    for key, lo in (("min_length", 0), ("max_length", 1)):
        v = comp.get(key)
        if v is not None and (not isinstance(v, int) or not lo <= v <= 4000):
            errs.add([*path, key], "NUMBER_TYPE_MAX", f"int value should be <= 4000 and >= {lo}.")


def _validate_action_row(errs: _FormErrors, row: dict, path: list[str | int], custom_ids: list[str]) -> None:
    children = row.get("components")
    _check_count(errs, [*path, "components"], children, 5, 1)
    if not isinstance(children, list):
        return
    if any(c.get("type") in _SELECT_TYPES for c in children) and len(children) > 1:
        errs.add(
            [*path, "components"],
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )
    for j, child in enumerate(children):
        if child.get("type") not in (2, 3, 4, 5, 6, 7, 8):
            errs.add(
                [*path, "components", j, "type"],
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (2, 3, 4, 5, 6, 7, 8).',
            )
            continue
        _validate_interactive(errs, child, [*path, "components", j], custom_ids)


def _validate_components_v2(
    errs: _FormErrors, comps: list, path: list[str | int], custom_ids: list[str], counter: list[int]
) -> None:
    for i, comp in enumerate(comps):
        p = [*path, i]
        counter[0] += 1
        ctype = comp.get("type")
        if ctype == 1:
            counter[0] += len(comp.get("components") or [])
            _validate_action_row(errs, comp, p, custom_ids)
        elif ctype == 10:
            _check_str(errs, [*p, "content"], comp.get("content"), 4000, 1, required=True)
        elif ctype in (9, 17):
            _validate_components_v2(
                errs, comp.get("components") or [], [*p, "components"], custom_ids, counter
            )
            accessory = comp.get("accessory")
            if accessory:
                counter[0] += 1
                _validate_interactive(errs, accessory, [*p, "accessory"], custom_ids)
        elif ctype in (2, *_SELECT_TYPES):
            _validate_interactive(errs, comp, p, custom_ids)


def _validate_components(errs: _FormErrors, comps: Any, flags: int) -> None:
    if not isinstance(comps, list):
        errs.add(["components"], "BASE_TYPE_ARRAY", "Must be an array.")
        return
    custom_ids: list[str] = []
    if flags & IS_COMPONENTS_V2:
        counter = [0]
        _validate_components_v2(errs, comps, ["components"], custom_ids, counter)
        if counter[0] > 40:
            errs.add(["components"], "BASE_TYPE_MAX_LENGTH", "Must be 40 or fewer in length.")
    else:
        _check_count(errs, ["components"], comps, 5)
        for i, row in enumerate(comps):
            if row.get("type") != 1:
                errs.add(
                    ["components", i, "type"],
                    "UNION_TYPE_CHOICES",
                    'Value of field "type" must be one of (1,).',
                )
                continue
            _validate_action_row(errs, row, ["components", i], custom_ids)
    dupes = [cid for cid, n in collections.Counter(custom_ids).items() if n > 1]
    if dupes:
        errs.add(
            ["components"],
            "COMPONENT_CUSTOM_ID_DUPLICATED",
            f"Component custom id cannot be duplicated: {dupes[0]}",
        )


def validate_message_body(body: Mapping[str, Any], *, partial: bool = False, has_files: bool = False) -> None:
    """Validate a create/edit message body like Discord; raises :class:`ApiError`.

    ``partial`` is for edits (no "empty message" check).
    """
    errs = _FormErrors()
    flags = body.get("flags") or 0
    if "content" in body:
        _check_str(errs, ["content"], body.get("content"), 2000)
    if body.get("embeds") is not None:
        _validate_embeds(errs, body["embeds"])
    if body.get("components") is not None:
        _validate_components(errs, body["components"], flags)
    if flags & IS_COMPONENTS_V2 and (body.get("content") or body.get("embeds")):
        errs.add(
            ["content"],
            "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
            "The 'content' and 'embeds' fields cannot be used when using MessageFlags.IS_COMPONENTS_V2",
        )
    am = body.get("allowed_mentions")
    if am is not None:
        parse = am.get("parse") or []
        for kind in ("users", "roles"):
            if kind in parse and am.get(kind):
                errs.add(
                    ["allowed_mentions"],
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
                )
            _check_count(errs, ["allowed_mentions", kind], am.get(kind) or [], 100)
    errs.raise_if_any()
    if not partial:
        empty = (
            not (body.get("content") or "").strip()  # Discord trims the content first
            and not body.get("embeds")
            and not body.get("components")
            and not body.get("sticker_ids")
            and not body.get("poll")
            and not has_files
        )
        if empty:
            raise ApiError(400, 50006, "Cannot send an empty message")


def validate_modal(data: Mapping[str, Any]) -> None:
    """Validate a modal (callback type 9 ``data``); raises :class:`ApiError`."""
    errs = _FormErrors()
    p: list[str | int] = ["data"]
    _check_str(errs, [*p, "custom_id"], data.get("custom_id"), 100, 1, required=True)
    _check_str(errs, [*p, "title"], data.get("title"), 45, 1, required=True)
    comps = data.get("components")
    _check_count(errs, [*p, "components"], comps, 5, 1)
    custom_ids: list[str] = []
    for i, comp in enumerate(comps if isinstance(comps, list) else []):
        cp = [*p, "components", i]
        ctype = comp.get("type")
        if ctype == 1:
            children = comp.get("components") or []
            _check_count(errs, [*cp, "components"], children, 1, 1)
            for j, child in enumerate(children):
                if child.get("type") != 4:
                    errs.add(
                        [*cp, "components", j, "type"],
                        "UNION_TYPE_CHOICES",
                        'Value of field "type" must be one of (4,).',
                    )
                else:
                    _validate_text_input(errs, child, [*cp, "components", j])
                    _check_str(
                        errs, [*cp, "components", j, "label"], child.get("label"), 45, 1, required=True
                    )
                    custom_ids.append(child.get("custom_id"))
        elif ctype == 18:
            _check_str(errs, [*cp, "label"], comp.get("label"), 45, 1, required=True)
            _check_str(errs, [*cp, "description"], comp.get("description"), 100)
            inner = comp.get("component") or {}
            if inner.get("type") == 4:
                _validate_text_input(errs, inner, [*cp, "component"])
                custom_ids.append(inner.get("custom_id"))
            elif inner.get("type") in (*_SELECT_TYPES, 19, 21, 22, 23):
                if inner.get("type") in _SELECT_TYPES:
                    _validate_interactive(errs, inner, [*cp, "component"], custom_ids)
            else:
                errs.add([*cp, "component", "type"], "UNION_TYPE_CHOICES", "Invalid component type.")
        elif ctype == 10:
            _check_str(errs, [*cp, "content"], comp.get("content"), 4000, 1, required=True)
        else:
            errs.add([*cp, "type"], "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1, 10, 18).')
    dupes = [cid for cid, n in collections.Counter(custom_ids).items() if n > 1]
    if dupes:
        errs.add(
            [*p, "components"], "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
        )
    errs.raise_if_any()


def validate_autocomplete(data: Mapping[str, Any]) -> None:
    """Validate autocomplete choices (callback type 8 ``data``)."""
    errs = _FormErrors()
    choices = data.get("choices")
    _check_count(errs, ["data", "choices"], choices, 25)
    for i, choice in enumerate(choices if isinstance(choices, list) else []):
        _check_str(errs, ["data", "choices", i, "name"], choice.get("name"), 100, 1, required=True)
        value = choice.get("value")
        if isinstance(value, str):
            _check_str(errs, ["data", "choices", i, "value"], value, 100)
        elif not isinstance(value, (int, float)) or isinstance(value, bool):
            errs.add(["data", "choices", i, "value"], "BASE_TYPE_REQUIRED", "This field is required")
    errs.raise_if_any()


_COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")


def _validate_command_options(errs: _FormErrors, options: Any, path: list[str | int]) -> None:
    _check_count(errs, path, options, 25)
    if not isinstance(options, list):
        return
    seen_optional = False
    names: list[str] = []
    for i, opt in enumerate(options):
        p = [*path, i]
        name = opt.get("name")
        if not isinstance(name, str) or not _COMMAND_NAME_RE.match(name) or name != name.lower():
            errs.add([*p, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        names.append(name)
        _check_str(errs, [*p, "description"], opt.get("description"), 100, 1, required=True)
        otype = opt.get("type")
        if otype in (1, 2):
            _validate_command_options(errs, opt.get("options") or [], [*p, "options"])
            continue
        if opt.get("required"):
            if seen_optional:
                errs.add(
                    [*p, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True
        choices = opt.get("choices")
        if choices:
            _check_count(errs, [*p, "choices"], choices, 25)
            for j, choice in enumerate(choices):
                _check_str(errs, [*p, "choices", j, "name"], choice.get("name"), 100, 1, required=True)
            if opt.get("autocomplete"):
                errs.add(
                    [*p, "autocomplete"],
                    "AUTOCOMPLETE_AND_CHOICES_MUTUALLY_EXCLUSIVE",
                    "Autocomplete cannot be used with choices",
                )
    if len(set(names)) != len(names):
        errs.add(path, "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS", "Option names must be unique")


def validate_commands(commands: Any) -> None:
    """Validate a bulk-overwrite command list like Discord."""
    errs = _FormErrors()
    if not isinstance(commands, list):
        errs.add([], "BASE_TYPE_ARRAY", "Must be an array.")
        errs.raise_if_any()
    seen: set[tuple[str, int]] = set()
    counts: collections.Counter[int] = collections.Counter()
    for i, cmd in enumerate(commands):
        ctype = cmd.get("type", 1)
        counts[ctype] += 1
        name = cmd.get("name")
        _check_str(errs, [i, "name"], name, 32, 1, required=True)
        if ctype == 1:
            if not isinstance(name, str) or not _COMMAND_NAME_RE.match(name) or name != name.lower():
                errs.add([i, "name"], "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            _check_str(errs, [i, "description"], cmd.get("description"), 100, 1, required=True)
            _validate_command_options(errs, cmd.get("options") or [], [i, "options"])
        elif cmd.get("description"):
            errs.add(
                [i, "description"],
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have description",
            )
        if (name, ctype) in seen:
            errs.add(
                [i, "name"], "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        seen.add((name, ctype))
    for ctype, limit in ((1, 100), (2, 15), (3, 15)):
        if counts[ctype] > limit:
            errs.add(
                [],
                "APPLICATION_COMMAND_TOO_MANY",
                f"Maximum number of type {ctype} commands reached ({limit})",
            )
    errs.raise_if_any()
