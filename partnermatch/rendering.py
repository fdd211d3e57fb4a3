"""Markdown written by the project (API descriptions) turned into safe HTML for pages."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

# "js-default" is CommonMark with raw HTML off: a description cannot add markup.
_MARKDOWN = MarkdownIt("js-default")


def render_markdown(text: str) -> Markup:
    """Render one line of Markdown (code, emphasis, links) as HTML; raw HTML stays text."""
    return Markup(_MARKDOWN.renderInline(text or ""))
