"""The app's entry: `streamlit run app/streamlit_app.py` from the repository root.

A thin router: it imports the heavy modules once (here, not in page scripts), puts the model picker in the sidebar, and hands over to the chosen page.
"""
import streamlit as st

from app import turns

# A class opening the app at the same moment: a session's first page takes its turn, two at a time, its
# first imports included (a fresh server's first runs import torch and the app: all at once, they took
# ~3 times as long). Later runs take none (app/turns.py).
FIRST = "turns_first_run_done"
with turns.page_turn(take=FIRST not in st.session_state):
    st.session_state[FIRST] = True
    # heavy imports once, in ordinary modules (a page script importing them raced under load)
    # (compare_view: Why RWKV, measured; the Explorer's QKV; explorer_sections and lab_sections: the sections
    # of the Explorer and the Lab; lessons.content: the lesson reader)
    from app import compare_view, explorer_core, explorer_sections, lab_sections, resources, scheduling_core, style  # noqa: F401
    from app.lessons import content, views  # noqa: F401
    from app.rooms import console as _console  # noqa: F401  (the rooms: the console page)
    from app.rooms import follow, predictions  # noqa: F401  (the rooms: the Lessons page)
    from visuals import export  # noqa: F401
    # st.table and st.dataframe import pandas on their first call (half a second alone): on a fresh server
    # that was the Explorer's first Step, with 60 students' first Steps queued behind the import's lock
    # (steps p95 5.8 s in scripts/load_test.py --sessions 60). Here it is part of the first page's turn.
    import pandas  # noqa: F401

    # The tab's icon an emoji: Streamlit draws it as an inline data: URL. A ":material/..." page icon is
    # fetched from fonts.gstatic.com on every page view (an offline school network fails, and Google hears
    # of each visit); the navigation's :material/ icons below use the font the app serves itself.
    # tests/browser/test_offline.py fails on any request to another host.
    st.set_page_config(page_title="RWKV-4 inside out", page_icon="🧠", layout="wide")

    # The pages in a row at the top (the header), not in the sidebar: on a phone the sidebar is a drawer
    # that hides the page, and classroom mode hides the sidebar; the sidebar keeps the model picker.
    pages = [
        st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("app_pages/explorer.py", title="Explorer", icon=":material/search:"),
        st.Page("app_pages/scheduling_lab.py", title="Scheduling Lab", icon=":material/grid_on:"),
        st.Page("app_pages/lessons.py", title="Lessons", icon=":material/school:"),
        st.Page("app_pages/why_rwkv.py", title="Why RWKV, measured", icon=":material/leaderboard:"),
        st.Page("app_pages/memory_lab.py", title="Memory lab", icon=":material/memory:"),
    ]
    # a room's teacher console: reached only by the link the room gives (not in the header, nor classroom's row)
    console = st.Page("app_pages/console.py", title="Room console", icon=":material/co_present:", visibility="hidden")

    page = st.navigation([*pages, console], position="top")
    on_lessons = page.url_path == "lessons"        # the Lessons page has its own classroom toggle
    classroom = style.sync(on_lessons)
    style.apply(classroom)
    if classroom:
        style.nav_row(pages)        # the page links where classroom mode hides the header's (under 768 px)
    if not on_lessons:
        style.toggle()
    if not (on_lessons and st.query_params.get("room")):   # in a room everyone reads the embedded model: no picker
        resources.model_picker()
    page.run()
