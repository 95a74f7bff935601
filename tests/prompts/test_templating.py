"""The {{variable}} language: variables listed in order, rendering, and errors that name the problem."""
from __future__ import annotations

import pytest

from prompts.templating import RenderError, TemplateError, parse, prompt_variables, render_prompt, variables


def test_it_lists_variables_in_order_of_first_appearance() -> None:
    assert variables(parse("{{b}} and {{ a }} then {{b}}")) == ["b", "a"]


def test_it_renders_text_and_chat() -> None:
    assert render_prompt("text", "Hi {{ name }}, {{n}}!", {"name": "Ana", "n": 3}) == "Hi Ana, 3!"
    chat = [{"role": "system", "content": "You are {{persona}}."}, {"type": "placeholder", "name": "history"},
            {"role": "user", "content": "{{question}}"}]
    out = render_prompt("chat", chat, {"persona": "terse", "question": "why?"})
    assert out[0] == {"role": "system", "content": "You are terse."}
    assert out[1] == {"type": "placeholder", "name": "history"}
    assert out[2]["content"] == "why?"
    assert prompt_variables("chat", chat) == ["persona", "question"]


def test_escaped_braces_are_literal() -> None:
    assert render_prompt("text", r'JSON: \{{"a": {"b": 1}\}} for {{x}}', {"x": "y"}) == 'JSON: {{"a": {"b": 1}}} for y'


@pytest.mark.parametrize(("template", "fragment"), [
    ("Hello {{name", "'{{' at character 6 is never closed"),
    ("Hello name}}", "'}}' without an opening '{{' at character 10"),
    ("{{ first name }}", "'{{ first name }}' at character 0 is not a variable"),
    ("{{}}", "'{{}}' at character 0 is not a variable"),
    ("{{a {{b}}", "'{{' at character 0 is never closed"),
    ("{{1st}}", "is not a variable"),
])
def test_malformed_templates_are_refused_naming_the_spot(template: str, fragment: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse(template)
    assert fragment in str(info.value)


def test_a_chat_error_names_the_message() -> None:
    with pytest.raises(TemplateError) as info:
        prompt_variables("chat", [{"role": "user", "content": "ok"}, {"role": "user", "content": "{{oops"}])
    assert info.value.where == "prompt[1].content"


def test_render_names_missing_and_unknown_variables() -> None:
    with pytest.raises(RenderError) as info:
        render_prompt("text", "{{a}} {{b}}", {"a": 1, "zed": 2})
    assert info.value.missing == ["b"] and info.value.unknown == ["zed"]
    assert "missing variable: b" in str(info.value) and "unknown variable: zed" in str(info.value)
