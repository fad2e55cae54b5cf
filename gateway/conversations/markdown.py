"""Model answers as HTML: Markdown rendered on the server, then sanitized. Model output is untrusted,
so raw HTML in it stays text, and whatever the renderer emits passes an allow-list (ammonia, via
nh3) that keeps no script, no event handler, no style and only http(s)/mailto links."""

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

_FORMATTER = HtmlFormatter(nowrap=True)
_TAGS = {
    "a", "blockquote", "br", "code", "del", "s", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li",
    "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "code": {"class"},
    "span": {"class"},
    "ol": {"start"},
    "td": {"style"},
    "th": {"style"},
}


def _highlight(code: str, language: str, _attrs) -> str:
    try:
        lexer = get_lexer_by_name(language) if language else None
    except ClassNotFound:
        lexer = None
    # An empty string tells markdown-it to escape the code itself.
    return highlight(code, lexer, _FORMATTER) if lexer else ""


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "highlight": _highlight}).enable(
    ["table", "strikethrough"]
)


def render_markdown(text: str) -> SafeString:
    html = _MARKDOWN.render(text or "")
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
    return mark_safe(clean)  # noqa: S308 - sanitized just above
