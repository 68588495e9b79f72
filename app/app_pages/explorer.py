"""Explorer: step through generation one token at a time and look inside the model.

The session (tokens, recorded intermediates, state, cached logits) is an ExplorerSession in
st.session_state["explorer"]; the sampling controls only re-sample its cached logits.
Model and user text is shown only through components that escape it (st.text, st.code,
widgets.table: st.dataframe, or in classroom mode st.table with escaped cells; plotly labels
escaped in visuals/).

What reruns on a click (st.fragment): the prompt box and "Read the prompt" rerun the page;
Step, Run, Undo and Reset rerun `work` (everything under the prompt); a sampling control reruns
only `sampling_panel`; a control inside "Look inside" reruns only `look_inside`. A figure whose
data did not change is sent as a reference to the copy the browser already has (Streamlit's
message cache), so a Step sends only what the new token changed.

The user's work is kept: the prompt and the settings are bound to the address
(`?ex_prompt=…&ex_temperature=0.7&ex_section=State+per+layer`, a deep link) and kept for the
session when the user visits another page (persist_state); the generated tokens are in the address
too (`&gen=12,7,300`), so a reload or a shared link restores them."""
import streamlit as st

from app import explorer_core as ec
from app import explorer_sections as sections
from app.resources import current_model, current_model_key, md_escape
from app.widgets import chips_per_row, number_box, show, table, whole_number
from rwkv_core import RWKV
from rwkv_core.protocol import Model
from rwkv_core.sampling import SamplingSettings

SESSION = "explorer"
MESSAGE = "ex_message"          # session_state: (level, text) from the last button's callback
SECTIONS_HELP = "\n\n".join(f"**{s.label}**: {s.shows}" for s in sections.SECTIONS.values())
KEEP = {"persist_state": "session", "bind": "query-params"}   # kept across pages, and in the address
MAX_RUN = 64
MAX_SEED = 2 ** 31 - 1
# Every click counted: Streamlit merges clicks on one button that reach the server while an earlier
# run is still pending, so a fast second click could add nothing, silently. This page script (fixed
# text, no user input) greys out Step and Run from a click (or the S key) until the page has
# answered it: the app was seen to start running after the click and to stop (its
# data-test-script-state, watched for every change), or, for a run too short to show as running
# (it can start and end within one browser frame), the app is not running, something under the page's
# main area has changed since the click, and nothing has for 60 ms (plotly's own drawing of a chart,
# which goes on after the answer has arrived, is not counted). After 60 s it lets go anyway.
BUSY_GUARD = """<script>
(() => {
  if (window.__exBusyGuard) return;
  window.__exBusyGuard = true;
  const BUSY = /^(Step|Run \\d+)$/;
  let busy = false, since = 0, changed = 0, ran = -1, stopped = -1;
  const guarded = () => [...document.querySelectorAll('[data-testid="stButton"] button')]
    .filter(b => BUSY.test(b.innerText.trim().split('\\n')[0].trim()));
  const mark = on => {
    busy = on;
    for (const b of guarded()) {
      b.disabled = on;
      b.title = on ? 'Busy with your last click: its token comes first' : '';
    }
  };
  const idle = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    return !app || app.dataset.testScriptState === 'notRunning';
  };
  const poll = () => {
    if (!busy) return;
    const now = performance.now();
    const answered = (ran > since && stopped > ran) || (changed > since && now - changed > 60);
    if ((idle() && answered) || now - since > 60000) { mark(false); return; }
    setTimeout(poll, 10);
  };
  const start = () => { since = performance.now(); setTimeout(() => { mark(true); poll(); }, 0); };
  new MutationObserver(records => {
    for (const r of records) {
      const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
      if (r.attributeName === 'data-test-script-state' && el && el.dataset.testid === 'stApp') {
        if (el.dataset.testScriptState === 'notRunning') stopped = performance.now();
        else if (el.dataset.testScriptState === 'running') ran = performance.now();
        continue;
      }
      if (!el || !el.closest('[data-testid="stMain"]') || el.closest('.js-plotly-plot')) continue;
      if (r.type === 'attributes' && (r.attributeName === 'disabled' || r.attributeName === 'title')) continue;
      changed = performance.now();
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  document.addEventListener('click', e => {
    const b = e.target.closest && e.target.closest('button');
    if (b && !busy && guarded().includes(b)) start();
  }, true);
  window.addEventListener('keydown', e => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) || e.target.isContentEditable;
    if (typing || e.key.toLowerCase() !== 's' || e.ctrlKey || e.metaKey || e.altKey) return;
    if (busy) { e.preventDefault(); e.stopImmediatePropagation(); } else { start(); }
  }, true);
})();
</script>"""


def default_prompt(model: Model) -> str:
    return "To be, or not to be" if model.tokenizer is not None else "0, 1, 2"


def new_session(model: RWKV, key: str, text: str) -> ec.ExplorerSession:
    """Read `text` (raises PromptError) and make it this user's session."""
    s = ec.ExplorerSession(model, key)
    s.start(ec.encode_prompt(model, text), text)
    st.session_state[SESSION] = s
    return s


# --- numbers typed by the user ---------------------------------------------------------------
# Each box is app.widgets.number_box: whatever is typed is made whole and put in range by the box's own
# callback, which says under the box what is used. A button's callback may run before the box's own
# (a number typed, then Step clicked): it reads the box the same way, silently.

def whole(key: str, default: int, low: int, high: int) -> int:
    """The whole number a box holds, as its number_box will use it."""
    return whole_number(st.session_state.get(key, default), low, high, "")[0]


def sampling_from_state(vocab: int) -> tuple[SamplingSettings, int]:
    """The sampling settings and seed the controls ask for."""
    ss = st.session_state
    settings = SamplingSettings(temperature=float(ss.get("ex_temperature", 1.0)), top_k=whole("ex_top_k", 0, 0, vocab),
                                top_p=float(ss.get("ex_top_p", 1.0)))
    return settings, whole("ex_seed", 0, 0, MAX_SEED)


# --- the buttons (callbacks: each click runs its whole action before the page is drawn) ---------

def prompt_for_new_model(old: ec.ExplorerSession, model: RWKV) -> str:
    """A new model (or the same one loaded again) keeps the student's prompt where its tokenizer can
    read it, else starts from its own default; either way the message says what changed."""
    text = st.session_state.get("ex_prompt", old.prompt_text)
    generated = len(old.tokens) - old.n_prompt
    gone = {0: "", 1: " The 1 generated token was the previous model's: gone."}.get(
        generated, f" The {generated} generated tokens were the previous model's: gone.")
    try:
        n = len(ec.encode_prompt(model, text))
    except ec.PromptError as e:
        st.session_state["ex_prompt"] = default_prompt(model)
        return (f"A new model is loaded. It cannot read your prompt ({str(e).rstrip('.')}), so it starts from "
                f"its default prompt, “{default_prompt(model)}”.{gone}")
    counted = f"{n} token{'s' * (n != 1)}"
    was = "" if n == old.n_prompt or text != old.prompt_text else f" (it was {old.n_prompt} for the previous model)"
    return f"A new model is loaded. Your prompt is kept: {counted} for this model's tokenizer{was}.{gone}"


def prompt_changed(s: ec.ExplorerSession) -> bool:
    return st.session_state.get("ex_prompt", s.prompt_text) != s.prompt_text


def _read_box(s: ec.ExplorerSession) -> ec.ExplorerSession | None:
    """The prompt box as a new session; None (and a message) when it cannot be read."""
    try:
        return new_session(s.model, s.model_key, st.session_state.get("ex_prompt", ""))
    except ec.PromptError as e:
        st.session_state[MESSAGE] = ("error", f"{e} The text below is unchanged.")
        return None


def on_read() -> None:
    s = st.session_state[SESSION]
    if _read_box(s) is not None:
        st.session_state.pop(MESSAGE, None)


def on_step(n: int = 1) -> None:
    """Add n tokens. A prompt box changed since it was read is read first (and said so)."""
    s, note = st.session_state[SESSION], None
    if prompt_changed(s):
        s = _read_box(s)
        if s is None:
            return
        note = "The prompt box had changed: it was read first, then the token added to it."
    settings, seed = sampling_from_state(s.model.config.vocab_size)
    try:
        for _ in range(n):
            s.step(s.next_sample(settings, seed).token)
    except ec.PromptError as e:
        st.session_state[MESSAGE] = ("warning", str(e))
        return
    st.session_state[MESSAGE] = ("info", note) if note else None


def on_run() -> None:
    on_step(whole("ex_n", 8, 1, MAX_RUN))


def on_undo() -> None:
    ok = st.session_state[SESSION].undo()
    st.session_state[MESSAGE] = None if ok else ("info", "Nothing to undo: only generated tokens can be taken back.")


def on_reset() -> None:
    st.session_state[SESSION].reset()
    st.session_state[MESSAGE] = None


# --- the generated tokens in the address: ?gen=12,7,300 (a reload or a shared link restores them) ----
# Written with st.query_params (the tokens are no widget to bind); a change of `gen` alone replaces the
# address instead of adding a history entry (app/style.py HISTORY_GUARD), as the bound settings do.
GEN = "gen"


def write_generated(s: ec.ExplorerSession) -> None:
    ids = ",".join(map(str, s.tokens[s.n_prompt:]))
    if st.query_params.get(GEN, "") != ids:
        if ids:
            st.query_params[GEN] = ids
        else:
            del st.query_params[GEN]


def restore_generated(s: ec.ExplorerSession, raw: str) -> None:
    """A link's generated tokens fed again one by one, each checked; at a bad one it stops and says so."""
    parts = raw.split(",")
    for i, part in enumerate(parts):
        try:
            if not part.strip().isdigit():
                raise ValueError("not a token id")
            s.model.check_tokens([int(part)])
            s.step(int(part))
        except (ValueError, ec.PromptError) as e:
            st.session_state[MESSAGE] = ("warning", f"This link's generated token {i + 1} of {len(parts)} "
                                         f"({part.strip()[:20]!r}) cannot be used ({str(e).rstrip('.')}): "
                                         f"the {i} before it are restored.")
            return


# --- the page --------------------------------------------------------------------------------------

model, key = current_model(), current_model_key()
st.title("Explorer")
st.caption("Type a prompt, then add one token at a time. Every chart below is the model's own numbers "
           "for these tokens.")

fresh = SESSION not in st.session_state          # a new browser session: a link or a reload
session = st.session_state.get(SESSION)
if session is not None and session.model_key != key:    # another model: the student's prompt, if it can read it
    st.session_state[MESSAGE] = ("info", prompt_for_new_model(session, model))
    session = None

# --- prompt ------------------------------------------------------------------------------------
text = st.text_area(f"Prompt (up to {ec.MAX_PROMPT_CHARS:,} characters, {ec.MAX_TOKENS} tokens)"
                    + ("" if model.tokenizer else ": this model has no tokenizer, type token ids"),
                    value=default_prompt(model), key="ex_prompt", height=90, **KEEP)
if session is None:
    try:
        session = new_session(model, key, text)
    except ec.PromptError as e:       # e.g. a deep link's prompt: say why, start from the default
        st.error(md_escape(f"{e} Starting from the default prompt instead."))
        session = new_session(model, key, default_prompt(model))
    else:
        if fresh and st.query_params.get(GEN):
            restore_generated(session, st.query_params[GEN])
st.button("Read the prompt", type="primary", key="ex_read", on_click=on_read)
st.html(BUSY_GUARD, unsafe_allow_javascript=True, width="content")


@st.fragment
def sampling_panel() -> None:
    """The sampling controls and what they show; changing one reruns only this."""
    session = st.session_state[SESSION]
    model = session.model
    left, right = st.columns([1, 2])
    with left:
        st.subheader("Sampling")
        st.slider("Temperature (0 = greedy)", 0.0, 2.0, 1.0, 0.05, key="ex_temperature", **KEEP)
        number_box(f"Top-k (0 = off, up to {model.config.vocab_size:,})", "ex_top_k", 0, model.config.vocab_size,
                   what="Top-k", **KEEP)
        st.slider("Top-p (1 = off)", 0.05, 1.0, 1.0, 0.05, key="ex_top_p", **KEEP)
        number_box("Seed", "ex_seed", 0, MAX_SEED, **KEEP)
        settings, seed = sampling_from_state(model.config.vocab_size)
        st.caption(f"Model runs in this session: {session.forward_calls}. Changing these controls does not "
                   "add any: they re-sample the cached logits.")
    with right:
        smp = session.next_sample(settings, seed)
        show(lambda: ec.fig_sample(model, smp), "ex_next",
             cache=("next", session.model_key, tuple(session.tokens), settings, seed, smp.token))
        greedy = int(session.logits.argmax())
        # a table shows cells as literal text (st.metric would read the token as Markdown)
        table({"": ["greedy (temperature 0)", f"sampled (seed {seed})"],
               "token": [ec.token_label(model, greedy), ec.token_label(model, smp.token)],
               "id": [greedy, smp.token],
               "p at T = 1, unfiltered": [float(smp.raw_probs[i]) for i in (greedy, smp.token)],
               "p after temperature, top-k, top-p": [float(smp.probs[i]) for i in (greedy, smp.token)]}, html=True)
        st.caption("Two probabilities per token: the model's own (softmax of the logits, temperature 1, "
                   "nothing cut) and the one the draw used (after temperature, top-k and top-p).")

    with st.expander("Greedy vs sampled, side by side"):
        n_more = st.slider("Tokens to continue", 4, 40, 16, key="ex_both_n")
        if st.button("Continue both ways", key="ex_both"):
            st.session_state["ex_both_result"] = ((session.model_key, tuple(session.tokens)),
                                                  *ec.continue_both(session, n_more, settings, seed))
        both = st.session_state.get("ex_both_result")
        if both and both[0] == (session.model_key, tuple(session.tokens)):
            b1, b2 = st.columns(2)
            b1.markdown("**Greedy** (always the most likely)")
            b1.code(ec.decode(model, both[1]), language=None, wrap_lines=True)
            b2.markdown(f"**Sampled** (temperature {settings.temperature}, top-k {settings.top_k}, "
                        f"top-p {settings.top_p}, seed {seed})")
            b2.code(ec.decode(model, both[2]), language=None, wrap_lines=True)


@st.fragment
def work() -> None:
    """Everything under the prompt; the step buttons rerun only this."""
    session = st.session_state[SESSION]
    write_generated(session)
    model = session.model
    c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1, 1.2])
    c1.button("Step", key="ex_step", on_click=on_step, shortcut="S",
              help="add the marked token and run the model on it (key: S). One token per click: while the "
                   "model works on a click, Step and Run are greyed out; Run N adds several at once.")
    n_run = number_box("Tokens to run", "ex_n", 1, MAX_RUN, default=8, container=c5, label_visibility="collapsed",
                       help=f"1 to {MAX_RUN}")
    c2.button(f"Run {n_run}", key="ex_run", on_click=on_run)
    c3.button("Undo", key="ex_undo", on_click=on_undo, shortcut="U", help="take back the last token (key: U)")
    c4.button("Reset", key="ex_reset", on_click=on_reset, help="back to the prompt alone")
    if prompt_changed(session):
        st.warning("The prompt box differs from the text below: press **Read the prompt** to start from it "
                   "(Step reads it first).")
    level, note = st.session_state.get(MESSAGE) or (None, "")
    if level:
        getattr(st, level)(md_escape(note))

    per_row = chips_per_row()
    show(lambda: ec.fig_tokens(session, per_row=per_row), "ex_tokens",
         cache=("tokens", session.model_key, tuple(session.tokens), session.n_prompt, per_row))
    st.caption("Text so far")
    st.code(ec.decode(model, session.tokens), language=None, wrap_lines=True)
    sampling_panel()
    st.divider()
    look_inside()


@st.fragment
def look_inside() -> None:
    """The section picked under "Look inside" (app/explorer_sections.py SECTIONS, the one registry
    of them); its own controls rerun only this."""
    session = st.session_state[SESSION]
    label = st.radio("Look inside", sections.labels(), horizontal=True, key="ex_section", help=SECTIONS_HELP,
                     **KEEP)
    sections.by_label(label).render(session)


work()
