"""The home page links every page, the Lessons included, with labels short enough never to be cut, and
writes out in full what each page holds."""
from __future__ import annotations

from app_helpers import started_app

from app.app_pages.home import DESTINATIONS


def test_home_links_every_page_with_its_description():
    at = started_app()
    links = [el.proto for el in at.get("page_link")]
    pages = [link.page for link in links]
    for page, label, _, text in DESTINATIONS:
        assert page.removesuffix(".py") in pages, (page, pages)   # a link names its page by its address
        assert any(link.label == label for link in links)
        assert len(label) <= 20                      # one short line, even on a 390 px phone
        assert any(m.value == text for m in at.markdown), f"{label}: its description is not on the page"
    assert any("lessons" in p for p in pages)


def test_home_says_where_the_model_is_changed_in_either_mode():
    """Classroom mode hides the sidebar, where the model picker is: Home must not send the class there."""
    at = started_app()
    assert any(m.value.endswith("Change it in the sidebar.") for m in at.info)
    at = started_app("app_pages/home.py", query={"classroom": "1"})
    infos = [m.value for m in at.info]
    assert any("Turn classroom mode off to change it in the sidebar." in v for v in infos), infos
    assert not any(v.endswith(" Change it in the sidebar.") for v in infos)
