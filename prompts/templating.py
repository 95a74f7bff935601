"""A small Mustache-like `{{variable}}` language: list a template's variables and render it.

Only variables exist (no sections, partials or HTML escaping: prompts are text for a model, not
HTML). A literal `{{` or `}}` is written `\\{{` or `\\}}`. Everything else that looks like a tag
but is not one is an error naming where it is, so a typo is refused when the version is created
rather than sent to a model.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(r"\\\{\{|\\\}\}|\{\{|\}\}")
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SNIPPET = 40


class TemplateError(ValueError):
    """A malformed template; `where` says which part (`prompt`, `prompt[1].content`)."""

    def __init__(self, message: str, *, where: str = "prompt", position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.position = position

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class RenderError(ValueError):
    """Variables missing from, or unknown to, a render; both lists name them."""

    def __init__(self, *, missing: list[str], unknown: list[str]) -> None:
        self.missing = missing
        self.unknown = unknown
        parts = []
        if missing:
            parts.append(f"missing variable{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown variable{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
        super().__init__("; ".join(parts))


@dataclass(frozen=True)
class Var:
    name: str


Part = str | Var


def _snippet(text: str, at: int) -> str:
    return text[at:at + _SNIPPET].replace("\n", " ")


def parse(text: str, *, where: str = "prompt") -> list[Part]:
    """The template as literal strings and variables, or TemplateError naming the first problem."""
    parts: list[Part] = []
    literal: list[str] = []
    pos = 0
    while True:
        match = _TOKEN.search(text, pos)
        if match is None:
            literal.append(text[pos:])
            break
        literal.append(text[pos:match.start()])
        token = match.group()
        if token in ("\\{{", "\\}}"):
            literal.append(token[1:])
            pos = match.end()
            continue
        if token == "}}":
            raise TemplateError(f"'}}}}' without an opening '{{{{' at character {match.start()} "
                                f"(near '{_snippet(text, max(0, match.start() - 10))}'); write \\}}}} for a literal "
                                "one", where=where, position=match.start())
        close = text.find("}}", match.end())
        nested = text.find("{{", match.end())
        if close < 0 or 0 <= nested < close:
            raise TemplateError(f"'{{{{' at character {match.start()} is never closed with '}}}}' "
                                f"(near '{_snippet(text, match.start())}'); write \\{{{{ for a literal one",
                                where=where, position=match.start())
        name = text[match.end():close].strip()
        if not NAME.match(name):
            raise TemplateError(f"'{text[match.start():close + 2][:_SNIPPET]}' at character {match.start()} is not a "
                                "variable: a name is letters, digits and _, not starting with a digit",
                                where=where, position=match.start())
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(Var(name))
        pos = close + 2
    if "".join(literal):
        parts.append("".join(literal))
    return parts


def variables(parts: list[Part]) -> list[str]:
    """Variable names in order of first appearance."""
    return list(dict.fromkeys(p.name for p in parts if isinstance(p, Var)))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def fill(parts: list[Part], values: dict[str, Any]) -> str:
    return "".join(p if isinstance(p, str) else _text(values[p.name]) for p in parts)


# --- Whole prompts: a text template, or chat messages whose `content` are templates -----------


def parse_prompt(kind: str, template: Any) -> list[tuple[int | None, list[Part]]]:
    """[(message index or None for text, parts)] for a text or chat template, checking its shape.
    Placeholder messages (`{"type": "placeholder", "name": ...}`, Langfuse's) have no parts."""
    if kind == "text":
        if not isinstance(template, str):
            raise TemplateError("a text prompt is a string")
        return [(None, parse(template))]
    if not isinstance(template, list) or not template:
        raise TemplateError("a chat prompt is a non-empty list of messages {\"role\", \"content\"}")
    out: list[tuple[int | None, list[Part]]] = []
    for i, message in enumerate(template):
        where = f"prompt[{i}]"
        if not isinstance(message, dict):
            raise TemplateError("a message is an object {\"role\", \"content\"}", where=where)
        if message.get("type") == "placeholder":
            if not isinstance(message.get("name"), str) or not message["name"]:
                raise TemplateError("a placeholder message needs a \"name\"", where=where)
            continue
        if not isinstance(message.get("role"), str) or not message["role"]:
            raise TemplateError("a message needs a \"role\" (a string)", where=where)
        if not isinstance(message.get("content"), str):
            raise TemplateError("a message needs a \"content\" (a string)", where=f"{where}.content")
        out.append((i, parse(message["content"], where=f"{where}.content")))
    return out


def prompt_variables(kind: str, template: Any) -> list[str]:
    names: dict[str, None] = {}
    for _, parts in parse_prompt(kind, template):
        names.update(dict.fromkeys(variables(parts)))
    return list(names)


def render_prompt(kind: str, template: Any, values: dict[str, Any]) -> Any:
    """The prompt with every variable filled: a string, or the messages with their content filled.
    Every variable needs a value and every value a variable: RenderError names the others."""
    parsed = parse_prompt(kind, template)
    names = {n for _, parts in parsed for n in variables(parts)}
    missing = sorted(names - set(values))
    unknown = sorted(set(values) - names)
    if missing or unknown:
        raise RenderError(missing=missing, unknown=unknown)
    if kind == "text":
        return fill(parsed[0][1], values)
    messages = [dict(m) for m in template]
    for index, parts in parsed:
        messages[index]["content"] = fill(parts, values)  # type: ignore[index]
    return messages
