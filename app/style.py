"""The page's look beyond the theme: classroom mode (large type for a projector) on every page, and
a phone layout. Static CSS only: no user or model text is ever put in here.

Classroom mode is one switch for the whole site, kept in st.session_state[SITE] and mirrored in the
URL as ?classroom=1 (a link opens in classroom mode). The Lessons page has its own toggle
(key LESSONS_KEY, written into its own URL): `sync` keeps the two the same.
"""
from __future__ import annotations

import streamlit as st

SITE = "site_classroom"          # the site-wide switch (plain state: survives page changes)
TOGGLE = "site_classroom_toggle"  # the toggle on pages other than the Lessons
LESSONS_KEY = "lsn_classroom"    # the Lessons page's own toggle (app/app_pages/lessons.py)
PARAM = "classroom"
PARAM_SEEN = "site_classroom_param_seen"
NAV_ROW = "classroom_nav"        # the container of classroom mode's page links (class st-key-classroom_nav)
WIDE = "wide_"                   # the key prefix of a box holding a chart wider than the screen (it scrolls)

# Large type and no sidebar for a projector (1280 × 720). Charts are enlarged by
# visuals.theme.presenter (app/widgets.py show), at the same ratio as the text here.
CLASSROOM_CSS = """<style>
/* below 768 px Streamlit moves the header's page links into the sidebar, hidden here: the page's own
   row of links (nav_row) is shown there instead, and only there */
@media (min-width: 768px) { .st-key-classroom_nav { display: none !important; } }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stExpandSidebarButton"],
[data-testid="stSidebarNav"] { display: none !important; }
.block-container, [data-testid="stMainBlockContainer"] { max-width: 96vw; padding-top: 4.5rem;
  padding-left: 2rem; padding-right: 2rem; }
[data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li {
  font-size: 1.7rem !important; line-height: 1.45; }
[data-testid="stMarkdownContainer"] .katex-display { font-size: 1.7rem; }
[data-testid="stMarkdownContainer"] .katex { font-size: 1.35em; }
/* a displayed equation at the text's size (1.35 em more made the longest, lesson 3's overflow
   sum, 1,488 px wide: past a 1280 px screen) */
[data-testid="stMarkdownContainer"] .katex-display > .katex { font-size: 1em; }
[data-testid="stMarkdownContainer"] .katex-display { overflow-x: auto; overflow-y: hidden; }
h1 { font-size: 3.2rem !important; } h2 { font-size: 2.5rem !important; } h3 { font-size: 2.1rem !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p { font-size: 1.35rem !important; }
/* tables: large type, and long cells wrap instead of being cut at the right edge */
[data-testid="stTable"] { overflow-x: auto; }
[data-testid="stTable"] table { width: 100%; table-layout: auto; }
[data-testid="stTable"] td, [data-testid="stTable"] th { font-size: 1.35rem !important;
  white-space: normal !important; overflow-wrap: anywhere; }
/* st.dataframe draws on a canvas that CSS fonts do not reach (and CSS zoom misplaces: it measures
   itself in unzoomed pixels); pages that want large tables in classroom mode use widgets.table */
/* live numbers */
[data-testid="stMetricValue"], [data-testid="stMetricValue"] div,
[data-testid="stMetricValue"] [data-testid="stMarkdownContainer"] p { font-size: 2.6rem !important; line-height: 1.2; }
[data-testid="stMetricLabel"] p, [data-testid="stMetricLabel"] div { font-size: 1.4rem !important; }
[data-testid="stMetricDelta"] div { font-size: 1.3rem !important; }
/* code: large and wrapped, never cut at the right edge */
[data-testid="stCode"] code, [data-testid="stCode"] pre { font-size: 1.2rem !important;
  white-space: pre-wrap !important; overflow-wrap: anywhere; }
[data-testid="stSliderThumbValue"], [data-testid="stSliderTickBarMin"], [data-testid="stSliderTickBarMax"] {
  font-size: 1.2rem !important; }
[data-testid="stExpander"] summary p, [data-testid="stExpander"] summary span { font-size: 1.45rem !important;
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
[data-testid="stWidgetLabel"] p, [data-testid="stRadio"] label p, .stButton button p,
[data-testid="stCheckbox"] label p { font-size: 1.45rem !important; }
[data-baseweb="select"] div, [data-testid="stTextArea"] textarea, [data-testid="stTextInput"] input,
[data-testid="stNumberInput"] input { font-size: 1.35rem !important; }
[data-testid="stAlertContainer"] p { font-size: 1.45rem !important; }
[data-testid="stText"], [data-testid="stText"] div { font-size: 1.35rem !important; }
/* the page links in the header (top navigation) */
header [data-testid="stTopNavLink"] span, header [data-testid="stTopNavLink"] p { font-size: 1.2rem !important; }
</style>"""

# Always: page links wrap instead of ending in an ellipsis. A phone (390 px wide): columns one under another, titles and links wrapped, charts' titles in
# smaller type (plotly's SVG text does not wrap; visuals.theme wraps titles at ~60 characters).
PHONE_CSS = """<style>
/* a button's label wraps instead of ending in an ellipsis: the Lessons contents lists long step titles */
[data-testid="stBaseButton-tertiary"], [data-testid="stBaseButton-primary"], [data-testid="stBaseButton-secondary"] {
  height: auto !important; max-width: 100% !important; }
[data-testid="stBaseButton-tertiary"] p, [data-testid="stBaseButton-tertiary"] div,
[data-testid="stBaseButton-primary"] p, [data-testid="stBaseButton-secondary"] p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  overflow-wrap: anywhere; }
[class*="st-key-toc_"] button { justify-content: flex-start !important; text-align: left !important; }
[class*="st-key-toc_"] button p, [class*="st-key-toc_"] button div { text-align: left !important; }
/* a diagram no narrower than its words need (visuals.architecture.DIAGRAM_WIDTH, 680 px; app/widgets.show):
   on a narrower screen (a phone) its box scrolls sideways, the page does not */
[class*="st-key-wide_"] { overflow-x: auto; overflow-y: hidden; max-width: 100%; }
[class*="st-key-wide_"] [data-testid="stElementContainer"] { min-width: 680px; }
[data-testid="stPageLink"] a, [data-testid="stPageLink"] p, [data-testid="stPageLink"] span,
[data-testid="stPageLink"] div { white-space: normal !important; overflow: visible !important;
  text-overflow: clip !important; height: auto !important; max-width: 100% !important; }
@media (max-width: 640px) {
  .block-container, [data-testid="stMainBlockContainer"] { padding-left: 0.75rem !important;
    padding-right: 0.75rem !important; }
  [data-testid="stHorizontalBlock"] { flex-wrap: wrap !important; gap: 0.5rem !important; }
  [data-testid="stHorizontalBlock"] > [data-testid="stColumn"] { width: 100% !important;
    flex: 1 1 100% !important; min-width: 100% !important; }
  /* a row of buttons only (Step, Run, Undo, Reset; Previous / Next): three to a line, not one */
  [data-testid="stHorizontalBlock"]:has([data-testid="stButton"]):not(:has([data-testid="stPlotlyChart"],
    [data-testid="stDataFrame"], [data-testid="stTable"], [data-testid="stMarkdown"], [data-testid="stCode"]))
    > [data-testid="stColumn"] { min-width: calc(33% - 0.5rem) !important; flex: 1 1 calc(33% - 0.5rem) !important;
    width: auto !important; }
  h1 { font-size: 2rem !important; } h2 { font-size: 1.6rem !important; } h3 { font-size: 1.35rem !important; }
  h1, h2, h3, [data-testid="stMarkdownContainer"] p { overflow-wrap: anywhere; }
  [data-testid="stExpander"] summary p { white-space: normal !important; }
  [data-testid="stTable"] { overflow-x: auto; }
  [data-testid="stCode"] code, [data-testid="stCode"] pre { white-space: pre-wrap !important;
    overflow-wrap: anywhere; }
  .js-plotly-plot .gtitle { font-size: 13px !important; }
  .js-plotly-plot .modebar-container { display: none !important; }   /* it covered the titles */
  /* (token chips: a phone gets four to a row, app/explorer_core.fig_tokens, at plotly's own size) */
  .js-plotly-plot .legendtext, .js-plotly-plot .xaxislayer-above text, .js-plotly-plot .yaxislayer-above text {
    font-size: 11px !important; }   /* the ticks of every axis (xtick, x2tick, ...) */
  .js-plotly-plot .infolayer g[class^="g-x"] text, .js-plotly-plot .infolayer g[class^="g-y"] text {
    font-size: 12px !important; }   /* every axis title: g-xtitle, g-x2title, ... */
  /* labels placed in the data (a picture's boxes, panel titles) keep plotly's px size while the
     chart narrows to a third: smaller, so that they stay in their boxes and off each other, but
     never under 11 px, their subtitles (sup and sub tags: plotly's 70 %) included */
  .js-plotly-plot .annotation-text { font-size: 11px !important; }
  .js-plotly-plot text tspan[style*="70%"] { font-size: 11px !important; }
  /* KaTeX draws a script of a script (the t, i of e^{w_{t,i}}) at half its size, 10.3 px here: 11 px at least */
  [data-testid="stMarkdownContainer"] .katex .sizing.reset-size6.size1 { font-size: max(11px, 0.5em) !important; }
  [data-testid="stMarkdownContainer"] .katex .sizing.reset-size3.size1 { font-size: max(11px, 0.7143em) !important; }
  [data-testid="stRadio"] > div { flex-wrap: wrap; }
}
</style>"""


# One history entry per visit. Streamlit pushes a history entry for every change of the query
# string (st.query_params), so a page that writes its settings into the address when it opens
# (the Lab's ?kind=&L=&T=&chunk=, ?classroom=1, a lesson's step) added a second entry after the
# navigation's own, and Back only took the student to the same page. A query-only change made
# while the first run after a change of page is still going (or, racing it, just before Streamlit
# changes the path) becomes part of the page's entry instead;
# later changes (a lesson's Next, a Lab control) keep one entry each, except a change of the Explorer's
# generated tokens alone (?gen=, like its bound settings: replaced). Installed once per tab.
HISTORY_GUARD = """<script>
(() => {
  if (window.__historyGuard) return;
  window.__historyGuard = true;
  const h = window.history, push = h.pushState.bind(h), replace = h.replaceState.bind(h);
  let until = 0, sawRun = false;
  const running = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !!app && app.dataset.testScriptState !== 'notRunning';
  };
  const watch = () => {
    if (performance.now() > until) return;
    if (running()) sawRun = true;
    else if (sawRun) { until = 0; return; }
    setTimeout(watch, 30);
  };
  const arm = () => { until = performance.now() + 20000; sawRun = false; watch(); };
  const QUIET = ['gen'];   // the Explorer's generated tokens: kept in the address, no place to go back to
  const onlyQuiet = next => {
    const now = new URLSearchParams(window.location.search), keys = new Set([...now.keys(), ...next.searchParams.keys()]);
    return [...keys].every(k => QUIET.includes(k) || now.getAll(k).join() === next.searchParams.getAll(k).join());
  };
  // A click on a link to another page: the new page's own address write may reach here before
  // Streamlit's change of path (which carries the same query string); it is held back until then.
  let leaving = -Infinity, held = null;
  document.addEventListener('click', e => {
    const a = e.target.closest ? e.target.closest('a[href]') : null;
    if (a && a.origin === window.location.origin && a.pathname !== window.location.pathname) leaving = performance.now();
  }, true);
  h.pushState = function (state, title, url) {
    const next = new URL(url, window.location.href), now = performance.now();
    if (next.pathname !== window.location.pathname) {
      if (held && !next.search) next.search = new URL(held, window.location.href).search;
      held = null; leaving = -Infinity; push(state, title, next.href); arm();
    } else if (now - leaving < 15000) {
      held = url;
      setTimeout(() => { if (held === url) { held = null; push(state, title, url); } }, 15000);
    } else if (now < until || onlyQuiet(next)) replace(state, title, url);
    else push(state, title, url);
  };
  arm();
  // plotly rejects an animation's promise, with no reason, when a newer one interrupts it (pause, another
  // speed, the frame slider): nothing went wrong, and the console said "Uncaught (in promise) undefined"
  window.addEventListener('unhandledrejection', e => { if (e.reason === undefined) e.preventDefault(); });
})();
</script>"""


def _changed(key: str) -> bool:
    """Whether the user flipped widget `key` since this module last set it (a widget's state left
    over from another page keeps the value it was set to, so it never counts)."""
    ss = st.session_state
    return key in ss and ss.get(key + "_seen") != bool(ss[key])


def _set(key: str, value: bool) -> None:
    st.session_state[key] = value
    st.session_state[key + "_seen"] = value


def sync(on_lessons: bool) -> bool:
    """The site-wide classroom switch, read once at the top of every run. The last thing the user
    changed decides: a new ?classroom= in the URL, then either page's toggle."""
    ss, qp = st.session_state, st.query_params
    if PARAM in qp and qp.get(PARAM) != ss.get(PARAM_SEEN):
        ss[PARAM_SEEN] = qp.get(PARAM)
        ss[SITE] = qp.get(PARAM) == "1"
    for key in (LESSONS_KEY, TOGGLE):
        if _changed(key):
            ss[SITE] = bool(ss[key])
    on = bool(ss.get(SITE, False))
    if on_lessons:
        _set(LESSONS_KEY, on)        # the Lessons page's toggle starts where the site is
    return on


def _toggled() -> None:
    st.session_state[SITE] = bool(st.session_state[TOGGLE])
    st.session_state[TOGGLE + "_seen"] = st.session_state[SITE]


def toggle() -> bool:
    """The switch on every page but the Lessons (which has its own): in the main area, since
    classroom mode hides the sidebar. Mirrored in the URL as ?classroom=1."""
    _set(TOGGLE, bool(st.session_state.get(SITE, False)))
    on = st.toggle("Classroom mode", key=TOGGLE, on_change=_toggled,
                   help="Large type for a projector: text, live numbers, tables and charts; no sidebar. "
                        "The address bar's link opens the page in classroom mode.")
    if on and st.query_params.get(PARAM) != "1":
        st.query_params[PARAM] = "1"
    elif not on and PARAM in st.query_params:
        del st.query_params[PARAM]
    st.session_state[PARAM_SEEN] = "1" if on else None
    return on


def phone() -> bool:
    """A phone's browser (its user agent says "Mobi", or its client hint says mobile): figures that
    would be too narrow side by side start one panel per row, token chips four to a row."""
    headers = st.context.headers
    return "Mobi" in (headers.get("User-Agent") or "") or headers.get("Sec-Ch-Ua-Mobile") == "?1"


def classroom() -> bool:
    """Whether this run shows the page in classroom mode."""
    return bool(st.session_state.get(SITE, False))


def apply(on: bool) -> None:
    """Put the page's CSS in: the phone layout always, classroom mode's large type when on; and the
    history guard (one entry per visit). Each is one module-level string literal
    (tests/test_hardening.py reviews every raw-HTML call)."""
    st.html(PHONE_CSS)
    st.html(HISTORY_GUARD, unsafe_allow_javascript=True, width="content")
    if on:
        st.html(CLASSROOM_CSS)


def nav_row(pages) -> None:
    """Classroom mode's page links in the page itself, for windows under 768 px (a phone, a
    half-screen window): there Streamlit folds the header's links into the sidebar, which classroom
    mode hides. CLASSROOM_CSS hides the row on wider windows, where the header shows the links."""
    with st.container(horizontal=True, key=NAV_ROW, gap="small"):
        for page in pages:
            st.page_link(page)
