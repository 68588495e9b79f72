"""Rooms: a teacher's class following one lesson step, predicting before each reveal.

    store.py        the one small interface every app process shares (SQLite in WAL mode by default,
                    Redis when RWKV_ROOMS_REDIS is set), with nothing kept in one process's memory
    rooms.py        the rules: codes, the teacher's secret, nicknames, answers, reveal, expiry, CSV
    predictions.py  a step's prediction on the room's prompt: its computed answer, the class's tally
    follow.py       the Streamlit pieces the Lessons page uses: open a room, join, follow, predict
No Streamlit in store.py, rooms.py and predictions.py: the tests and scripts/load_room.py use them.
"""
