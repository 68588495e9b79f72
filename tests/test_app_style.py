"""app/style.py's CSS reaches the page: the browser's sanitizer (DOMPurify, behind st.html) drops a whole
<style> element whose text holds a "<" (a tag named in a comment was enough: the phone layout vanished)."""
from __future__ import annotations

import re

import pytest

from app import style


@pytest.mark.parametrize("name", ["PHONE_CSS", "CLASSROOM_CSS"])
def test_the_css_holds_no_markup(name):
    css = getattr(style, name)
    body = re.fullmatch(r"\s*<style>(.*)</style>\s*", css, re.S)
    assert body, f"{name} is one <style> element"
    assert "<" not in body.group(1), f"{name}: a '<' inside the style makes the sanitizer drop it"


def test_the_phone_layout_keeps_small_text_at_11_px():
    """The phone's overrides never set a size under 11 px (the fit test measures the page itself)."""
    sizes = [float(x) for x in re.findall(r"font-size:\s*(?:max\()?(\d+(?:\.\d+)?)px", style.PHONE_CSS)]
    assert sizes and min(sizes) >= 11, sizes
