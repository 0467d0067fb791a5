"""Braze personalisation in a wording: `{{${first_name} | default: 'there'}}` split from the literal text.

A wording may contain Braze personalisation as a marketer writes it in Braze: an attribute (`${name}` or
`custom_attribute.${name}`) followed by filters from an allow-list with literal text or integer arguments.
Personal values never leave Braze: the content answer carries each expression as a slot marker
`{{p0}}`, `{{p1}}`, … (numbered per placement over the distinct expressions of all variants, in variant
order), and the snippet fills the slots inside Braze. A marker cannot collide with literal text: every
`{{` of a wording starts an expression, so literal text never contains `{{`.

Pure: no IO.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from copyloom.errors import InvalidInput

FILTERS: Mapping[str, tuple[str, ...]] = {
    "default": ("text",),
    "upcase": (),
    "downcase": (),
    "capitalize": (),
    "strip": (),
    "truncate": ("integer", "text?"),
    "truncatewords": ("integer", "text?"),
    "append": ("text",),
    "prepend": ("text",),
}
"""The filters a wording may use, with their arguments (`?`: optional)."""

_EXPRESSION = re.compile(r"\{\{(.*?)\}\}(?!\})", re.DOTALL)
_NAME = r"[A-Za-z_][A-Za-z0-9_ ]*"
_ATTRIBUTE = re.compile(rf"\s*((?:custom_attribute\.)?\$\{{{_NAME}\}})\s*")
_FILTER = re.compile(r"\|\s*([A-Za-z_]\w*)\s*")
_ARGUMENT = re.compile(r"""\s*('[^']*'|"[^"]*"|-?\d+)\s*""")


@dataclass(frozen=True, slots=True)
class Expression:
    """One personalisation expression, in canonical form without braces: `${first_name} | default: 'x'`."""

    source: str

    @property
    def liquid(self) -> str:
        return "{{" + self.source + "}}"


Segment = str | Expression


def slot_marker(index: int) -> str:
    return "{{p" + str(index) + "}}"


def split_wording(text: str, where: str | None = None) -> tuple[Segment, ...]:
    """The literal parts and expressions of a wording, in order.

    With `where` (a definition field such as `variants[1].subject`) refused personalisation raises;
    without it (texts already stored) anything unrecognised stays literal text.

    Raises:
        InvalidInput: naming the field and the expression, with what is allowed.
    """
    if where is not None and "{%" in text:
        raise InvalidInput(f"{where}: Liquid tags '{{%' are not allowed in a wording, only {{{{ }}}}")
    segments: list[Segment] = []
    start = 0
    for match in _EXPRESSION.finditer(text):
        expression = _expression(match.group(1), match.group(0), where)
        if expression is None:
            continue
        segments.append(text[start : match.start()])
        segments.append(expression)
        start = match.end()
    segments.append(text[start:])
    if where is not None and any(isinstance(s, str) and "{{" in s for s in segments):
        raise InvalidInput(f"{where}: personalisation '{{{{' has no closing '}}}}'")
    return tuple(s for s in segments if s != "")


def placement_slots(texts: Iterable[str]) -> tuple[Expression, ...]:
    """The distinct expressions of one placement's wordings (all variants), in order: slot i is index i."""
    slots: list[Expression] = []
    for text in texts:
        for segment in split_wording(text):
            if isinstance(segment, Expression) and segment not in slots:
                slots.append(segment)
    return tuple(slots)


def slotted_text(text: str, slots: tuple[Expression, ...]) -> str:
    """The wording as served: each expression replaced by its slot marker."""
    return "".join(
        slot_marker(slots.index(s)) if isinstance(s, Expression) else s for s in split_wording(text)
    )


def served_texts(all_texts: Iterable[Mapping[str, str]], texts: Mapping[str, str]) -> dict[str, str]:
    """One variant's texts as served, given every variant's texts (which numbers the slots)."""
    every = list(all_texts)
    return {
        placement: slotted_text(text, placement_slots(t[placement] for t in every if placement in t))
        for placement, text in texts.items()
    }


def _expression(inner: str, whole: str, where: str | None) -> Expression | None:
    try:
        return Expression(_canonical(inner))
    except ValueError as refused:
        if where is None:
            return None
        raise InvalidInput(f"{where}: personalisation '{whole}' is not allowed: {refused}") from None


def _canonical(inner: str) -> str:
    attribute = _ATTRIBUTE.match(inner)
    if attribute is None:
        raise ValueError("expected a Braze attribute ${name} or custom_attribute.${name} first")
    parts = [attribute.group(1)]
    position = attribute.end()
    while position < len(inner):
        found = _FILTER.match(inner, position)
        if found is None:
            raise ValueError(f"unexpected '{inner[position:].strip()}' (expected '| filter')")
        name = found.group(1)
        if name not in FILTERS:
            raise ValueError(f"filter '{name}' (allowed: {', '.join(FILTERS)})")
        arguments, position = _arguments(inner, found.end(), name)
        parts.append(f"{name}: {', '.join(arguments)}" if arguments else name)
    return " | ".join(parts)


def _arguments(inner: str, position: int, name: str) -> tuple[list[str], int]:
    kinds = FILTERS[name]
    arguments: list[str] = []
    if inner.startswith(":", position):
        separator = ":"
        while inner.startswith(separator, position):
            found = _ARGUMENT.match(inner, position + 1)
            if found is None:
                raise ValueError(f"filter '{name}': arguments are 'text' or integers")
            arguments.append(found.group(1))
            position, separator = found.end(), ","
    required = [k for k in kinds if not k.endswith("?")]
    if not len(required) <= len(arguments) <= len(kinds) or any(
        (a[0] in "'\"") != k.startswith("text") for a, k in zip(arguments, kinds, strict=False)
    ):
        raise ValueError(f"filter '{name}' takes {_described(kinds)}")
    return arguments, position


def _described(kinds: tuple[str, ...]) -> str:
    """`("integer", "text?")` → `an integer, then optionally a 'text'`."""
    words = {"integer": "an integer", "text": "a 'text'"}
    named = [("optionally " if k.endswith("?") else "") + words[k.rstrip("?")] for k in kinds]
    return ", then ".join(named) or "no arguments"
