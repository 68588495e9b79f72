"""Every page fits a phone and a projector: each page (Home, the Explorer, the Scheduling Lab, a few
lesson steps, the Why page) at 390 × 844 with a phone's user agent and at 1280 × 720 in classroom
mode, and the test FAILS on

- visible text under 11 px: the computed font size of every visible text node, HTML and SVG (plotly's
  charts), an SVG's text scaled by its transform on the screen (getScreenCTM);
- a control (button, input, slider, select, plotly's play buttons and sliders) that reaches past the
  viewport's left or right edge;
- at 1280 px, a horizontal scrollbar: the page's, or any visible box that scrolls sideways
  (a table or an equation wider than the screen); on a phone a diagram drawn wider than the screen
  scrolls in its own box (app/widgets.show), and its text is checked against its own edges;
- chart text cut at the chart's edge, and (classroom) a chart taller than the screen.

With RWKV_SHOTS_DIR set, each page's screenshot (the whole page) goes there, named
fit-<mode>-<page>.png; without it none is taken (a temporary folder no one reads: the window's
resize and the whole-page shot took a quarter of the time: six of the runs, 53.7 s with them and 39.7 s
without, on the AMD EPYC with a training beside)."""
from __future__ import annotations

import os

import pytest
from streamlit_page import SHOTS, assert_no_exception, wait_idle

pytestmark = pytest.mark.browser

TIMEOUT_MS = 180_000
MIN_PX = 11.0
OPEN = "Contents"        # expanders opened before measuring
PHONE_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.5 Mobile/15E148 Safari/604.1")
MODES = {
    "phone": dict(viewport={"width": 390, "height": 844}, user_agent=PHONE_UA, is_mobile=True, has_touch=True,
                  device_scale_factor=2),
    "classroom": dict(viewport={"width": 1280, "height": 720}),
}
# name → address (the Why page is the lead's: its check runs like the others, and its failures are reported)
PAGES = {
    "home": "",
    "explorer": "explorer",
    "scheduling_lab": "scheduling_lab",
    "lesson1-step4": "lessons?lesson=1&step=4",
    "lesson1-step9": "lessons?lesson=1&step=9",
    "lesson2-red-line": "lessons?lesson=2&step=the-red-line",     # a diagram (the red-line RNN): a phone scrolls it
    "lesson2-step3": "lessons?lesson=2&step=3",
    "lesson2-step5": "lessons?lesson=2&step=5",
    "lesson3-step5": "lessons?lesson=3&step=5",
    "lesson3-block": "lessons?lesson=3&step=whole-block",        # the RWKV block's diagram
    "why_rwkv": "why_rwkv",
    "memory_lab": "memory_lab",
}

# One pass over the page: what is too small, what sticks out, what scrolls sideways.
MEASURE = """(minPx) => {
  const W = document.documentElement.clientWidth;
  const shown = el => el && el.checkVisibility({opacityProperty: true, visibilityProperty: true});
  const where = el => {
    const parts = [];
    for (let e = el; e && parts.length < 4; e = e.parentElement) {
      const id = e.getAttribute && (e.getAttribute('data-testid') || (e.getAttribute('class') || '').split(' ')[0]);
      parts.push(e.tagName.toLowerCase() + (id ? '.' + id : ''));
    }
    return parts.join(' < ');
  };
  // drawn off-screen or for screen readers only: a closed sidebar (a phone's drawer), KaTeX's MathML copy
  const HIDDEN = 'script, style, noscript, title, defs, .katex-mathml, [data-testid="stSidebar"][data-collapsed="true"]';
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent.trim();
    const el = n.parentElement;
    if (!text || !el || !shown(el) || el.closest(HIDDEN)) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const r = range.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    let px = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement && el.getScreenCTM) {
      const m = el.getScreenCTM();
      if (m) px *= Math.sqrt(Math.abs(m.a * m.d - m.b * m.c));
    }
    if (px < minPx - 0.01) small.push({text: text.slice(0, 40), px: Math.round(px * 10) / 10, where: where(el)});
  }
  const controls = [];
  const CONTROL = 'button, input, textarea, select, [role="slider"], [role="radio"], [role="checkbox"], ' +
    '[role="combobox"], [data-baseweb="select"], .updatemenu-button, .slider-grip-rect, .slider-rail-rect';
  // the part of an element that its ancestors do not clip away sideways (a slider's range input sits,
  // hidden, in its thumb); up and down nothing is clipped: the page scrolls that way
  const unclipped = el => {
    const r = el.getBoundingClientRect();
    let left = r.left, right = r.right;
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX === 'visible') continue;
      const b = a.getBoundingClientRect();
      left = Math.max(left, b.left); right = Math.min(right, b.right);
    }
    return {left, right, width: right - left, height: r.height};
  };
  for (const el of document.querySelectorAll(CONTROL)) {
    if (!shown(el) || el.closest(HIDDEN)) continue;
    const r = el instanceof SVGElement ? el.getBoundingClientRect() : unclipped(el);
    if (r.width < 1 || r.height < 1) continue;
    if (r.left < -0.5 || r.right > W + 0.5) {
      const label = (el.getAttribute('aria-label') || el.textContent || el.getAttribute('data-testid') || '').trim();
      controls.push({what: el.tagName.toLowerCase() + ' ' + label.slice(0, 40), left: Math.round(r.left),
                     right: Math.round(r.right), where: where(el)});
    }
  }
  const scrolls = [];
  const doc = document.scrollingElement;
  if (doc.scrollWidth > doc.clientWidth + 1) scrolls.push({what: 'the page', scroll: doc.scrollWidth, width: doc.clientWidth});
  for (const el of document.querySelectorAll('body *')) {
    if (el.scrollWidth <= el.clientWidth + 1 || el.clientWidth === 0) continue;
    const ox = getComputedStyle(el).overflowX;
    if ((ox === 'auto' || ox === 'scroll') && shown(el))
      scrolls.push({what: where(el), scroll: el.scrollWidth, width: el.clientWidth});
  }
  // a chart's text cut at its edges (a title or label past the chart's box, or the screen's), and a
  // chart taller than the screen under the page's header (its title and its play buttons not in one view)
  const clipped = [], tall = [];
  const header = document.querySelector('header[data-testid="stHeader"]');
  const screenH = window.innerHeight - (header && shown(header) ? header.getBoundingClientRect().bottom : 0);
  for (const chart of document.querySelectorAll('[data-testid="stPlotlyChart"]')) {
    if (!shown(chart)) continue;
    const box = chart.getBoundingClientRect(), svg = chart.querySelector('svg.main-svg');
    if (!svg) continue;
    const s = svg.getBoundingClientRect();
    // a diagram in a box that scrolls sideways (a phone: app/widgets.show) is read by scrolling: its own edges
    const scrolled = chart.closest('[class*="st-key-wide_"]');
    const left = Math.max(box.left, s.left, scrolled ? -Infinity : 0), right = Math.min(box.right, s.right, scrolled ? Infinity : W);
    const top = Math.max(box.top, s.top), bottom = Math.min(box.bottom, s.bottom);
    const title = chart.querySelector('.gtitle');
    const name = title ? title.textContent.slice(0, 50) : (chart.closest('[class*="st-key-"]') || chart).className;
    if (s.height > screenH + 0.5) tall.push({chart: name, height: Math.round(s.height), screen: Math.round(screenH)});
    for (const el of chart.querySelectorAll('text')) {
      if (!el.textContent.trim() || !shown(el)) continue;
      const r = el.getBoundingClientRect();
      if (r.width < 1) continue;
      if (r.left < left - 1 || r.right > right + 1 || r.top < top - 1 || r.bottom > bottom + 1)
        clipped.push({chart: name, text: el.textContent.trim().slice(0, 40), left: Math.round(r.left - left),
                      right: Math.round(r.right - right), top: Math.round(r.top - top), bottom: Math.round(r.bottom - bottom)});
    }
  }
  // text cut with an ellipsis ("equal training toker…", a long step title in the Lessons contents)
  const cut = [];
  for (const el of document.querySelectorAll('body *')) {
    if (el.scrollWidth <= el.clientWidth + 1 || el.clientWidth === 0 || el.closest(HIDDEN)) continue;
    const s = getComputedStyle(el);
    if (s.textOverflow === 'ellipsis' && s.overflowX !== 'visible' && shown(el))
      cut.push({text: el.textContent.trim().slice(0, 50), scroll: el.scrollWidth, width: el.clientWidth, where: where(el)});
  }
  return {small, controls, scrolls, clipped, tall, cut, width: W};
}"""


def measure(page) -> dict:
    return page.evaluate(MEASURE, MIN_PX)


def visit(browser, app_url: str, mode: str, path: str, shot: str):
    context = browser.new_context(**MODES[mode])
    page = context.new_page()
    sep = "&" if "?" in path else "?"
    url = f"{app_url}/{path}" + (f"{sep}classroom=1" if mode == "classroom" else "")
    page.goto(url, timeout=TIMEOUT_MS)
    wait_idle(page, TIMEOUT_MS)
    page.wait_for_timeout(1500)            # plotly lays its charts out after the script has finished
    assert_no_exception(page)
    for summary in page.locator('[data-testid="stExpander"] summary').filter(has_text=OPEN).all():
        summary.click()                    # the Lessons contents: every step's title
        wait_idle(page, TIMEOUT_MS)
    found = measure(page)
    if not os.environ.get("RWKV_SHOTS_DIR"):
        context.close()
        return found
    # Streamlit scrolls its main area, not the document: a screenshot of the whole page needs a window
    # as tall as that area's content (taken after measuring, since a taller window changes the layout)
    tall = page.evaluate("""() => Math.max(document.scrollingElement.scrollHeight, ...[...document.querySelectorAll('*')]
        .filter(e => /auto|scroll/.test(getComputedStyle(e).overflowY)).map(e => e.scrollHeight))""")
    page.set_viewport_size({"width": MODES[mode]["viewport"]["width"], "height": min(int(tall) + 80, 12_000)})
    page.wait_for_timeout(800)
    page.screenshot(path=str(SHOTS / f"fit-{mode}-{shot}.png"), full_page=True)
    context.close()
    return found


def report(found: dict, mode: str) -> list[str]:
    """What fails, one line each (the first ten of each kind, and how many)."""
    lines = []
    for kind, items in (("text under 11 px", found["small"]), ("controls off-screen", found["controls"]),
                        ("chart text cut at the chart's edge", found["clipped"]),
                        ("text cut with an ellipsis", found["cut"]),
                        ("horizontal scroll", found["scrolls"] if mode == "classroom" else []),
                        ("charts taller than the screen", found["tall"] if mode == "classroom" else [])):
        if items:
            lines.append(f"{len(items)} {kind}:")
            lines += [f"  {item}" for item in items[:10]]
    return lines


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("name", list(PAGES))
def test_the_page_fits(browser, app_url, mode, name):
    found = visit(browser, app_url, mode, PAGES[name], name)
    problems = report(found, mode)
    assert not problems, f"{name} at {mode} ({found['width']} px wide):\n" + "\n".join(problems)
