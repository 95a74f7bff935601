"""Queue instructions: markdown rendered with raw HTML off (markdown-it-py), then sanitised (nh3)
as a second fence, so nothing a queue's author writes can run in a reviewer's browser."""
from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {"p", "br", "strong", "em", "code", "pre", "ul", "ol", "li", "blockquote", "h1", "h2", "h3", "h4", "a",
         "hr", "table", "thead", "tbody", "tr", "th", "td"}


def instructions_html(source: str) -> str:
    """Safe HTML for `source` (markdown). Links keep http(s) and mailto only, with rel=noopener."""
    return nh3.clean(_md.render(source or ""), tags=_TAGS, attributes={"a": {"href"}},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow")
