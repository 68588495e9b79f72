"""The classroom figures are read back against the JSON their commands wrote: the README's
"**Measured:**" paragraph of "Deploying for a class" and docs/benchmarks.md's sections on the
classroom load, clicks in a real browser and bad checkpoint inputs, against docs/deploy/load_30.json,
load_60.json, clicks.json and bad_inputs.json (scripts/load_test.py, bench_clicks.py, bad_inputs.py
with --json). A rerun that changes a file fails here until the prose follows; so does a number in
that prose that no file holds (a stale figure left behind), and a verdict ("met", "other work
shared the CPU") that the numbers do not give."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "docs" / "deploy"
SHARED_LOAD = 1.0          # a 1-minute load average at or above this before a run: something else was running
SUFFIX = " The previous model is still loaded: embedded Shakespeare model."


def data(name: str) -> dict:
    return json.loads((DEPLOY / name).read_text())


def flat(text: str) -> str:
    return " ".join(text.split())


def between(text: str, start: str, end: str) -> str:
    a = text.index(start)
    return text[a:text.index(end, a + len(start))]


def benchmarks(section: str) -> str:
    """A `## ` section of docs/benchmarks.md, up to the next `## ` heading."""
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    a = text.index(f"\n## {section}") + 1
    b = text.find("\n## ", a)
    return text[a:b if b > 0 else len(text)]


def load_note(d: dict, after: bool = False) -> str:
    """How the prose says what the load was when the run started (and, with after, when it ended),
    computed from the JSON: other work shared the CPU, or a quiet machine."""
    load = d["load_before"][0]
    said = f"load average {load:.2f} before" + (f" ({d['load_after'][0]:.2f} after)" if after else "")
    return said + (": other work shared the CPU" if load >= SHARED_LOAD else ": a quiet machine")


def cpu_model(d: dict) -> str:
    return d["cpu"].removeprefix("CPU: ").rsplit(",", 1)[0]          # "CPU: AMD EPYC, 2 threads" -> "AMD EPYC"


def verdict(ok: bool) -> str:
    return "met" if ok else "not met"


def numbers(text: str) -> set[str]:
    """Every number written in the text ("9.65", "39,720", "2026"), not the digits inside names (load_30)."""
    return set(re.findall(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?", text))


def prose(text: str) -> str:
    """The text without code blocks, inline code and table rows (those are compared cell by cell)."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`]*`", "", text)
    return "\n".join(line for line in text.splitlines() if not line.startswith("|"))


def table(text: str) -> dict[str, list[str]]:
    """A markdown table's body rows (not its header): first cell (backticks and bold dropped) -> the others."""
    rows, lines = {}, text.splitlines()
    for k, line in enumerate(lines):
        if line.startswith("| ") and not line.startswith("|---") and not lines[k + 1].startswith("|---"):
            cells = [c.strip().replace("**", "").strip("`") for c in line.strip().strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows


# Each run: its label in the README's bullets and the benchmarks table, and its file. One app process
# (`streamlit run`, fresh) at 30 and 60 students; the classroom deployment (scripts/serve_class.sh: nginx,
# two warmed replicas) at 60.
LOADS = {"30 students, one app process": "load_30.json", "60 students, one app process": "load_60.json",
         "60 students, the classroom deployment": "load_60_class.json"}
TARGET_RUNS = {"one app process": "load_60.json", "the classroom deployment": "load_60_class.json"}


def s(x: float) -> str:
    return f"{x:.2f}"


def deployment(d: dict) -> str:
    """How a run was served, from its JSON (replicas 0 or absent: one process started by the script)."""
    n = d.get("replicas") or 0
    return f"scripts/serve_class.sh, {n} replicas" if n else "one app process"


# --- the README's "Measured" paragraph ---------------------------------------------------------------

def readme_measured() -> str:
    return between((ROOT / "README.md").read_text(), "**Measured:**", "Two server settings in")


@pytest.mark.parametrize("label", list(LOADS))
def test_the_readme_bullet_is_the_load_test_json(label):
    d = data(LOADS[label])
    assert f"{d['sessions']} students" in label and d["think_s"] == 5
    assert ("classroom deployment" in label) == bool(d.get("replicas"))
    text = flat(readme_measured())
    bullet = flat(between(text, f"- **{label}**", "- **" if label != list(LOADS)[-1] else "Against the class-ready"))
    a, m = d["actions"], d["server_rss_mib"]
    assert f"`{d['command']}`" in bullet
    assert load_note(d) in bullet
    assert f"{d['errors']} errors" in bullet
    assert (f"The first page took {s(a['open']['median_s'])} s at the median and {s(a['open']['p95_s'])} s at the "
            f"95th percentile ({s(a['open']['max_s'])} s for the last student)") in bullet
    assert (f"a step {s(a['step']['median_s'])} s at the median and {s(a['step']['p95_s'])} s at the "
            f"95th percentile") in bullet
    assert (f"opening the Scheduling Lab {s(a['open lab']['median_s'])} s (95th percentile "
            f"{s(a['open lab']['p95_s'])} s)") in bullet
    assert f"{m['idle_after_start']:.0f} MiB before" in bullet
    assert f"{m['peak']:.0f} MiB at the peak, {m['end']:.0f} MiB at the end" in bullet
    assert f"on {d['date'][:10]}, on a {d['cores']}-core {cpu_model(d)}" in text


def test_the_readme_says_whether_60_students_meet_the_target():
    text = flat(readme_measured())
    for how, name in TARGET_RUNS.items():
        d = data(name)
        open95, step95 = d["actions"]["open"]["p95_s"], d["actions"]["step"]["p95_s"]
        assert (f"{how.capitalize()}: first page within 5 s at the 95th percentile, {verdict(open95 <= 5)} "
                f"({s(open95)} s); steps within 1 s at the 95th percentile, {verdict(step95 <= 1)} ({s(step95)} s); "
                f"no errors, {verdict(d['errors'] == 0)}") in text, how


def test_every_number_in_the_readme_paragraph_is_a_json_figure():
    said = numbers(prose(readme_measured()))
    allowed = {"0", "1", "2", "5", "10", "30", "60", "95"}
    for name in LOADS.values():
        d = data(name)
        a, m = d["actions"], d["server_rss_mib"]
        allowed |= set(d["date"][:10].split("-")) | {f"{d['load_before'][0]:.2f}", str(d["errors"])}
        allowed |= {s(a[k][q]) for k in ("open", "step", "open lab") for q in ("median_s", "p95_s", "max_s")}
        allowed |= {f"{m[k]:.0f}" for k in ("idle_after_start", "peak", "end")}
    assert said <= allowed, f"numbers in the README's Measured paragraph that no JSON holds: {said - allowed}"


# --- docs/benchmarks.md: classroom load ------------------------------------------------------------------

def load_row(d: dict) -> list[str]:
    a, m, c = d["actions"], d["server_rss_mib"], d["server_cpu_cores"]
    cells = [" / ".join(s(a[k][q]) for q in ("median_s", "p95_s", "max_s"))
             for k in ("open", "prompt", "step", "temperature", "open lab")]
    return [deployment(d)] + cells + [str(d["errors"]),
                                      f"{m['idle_after_start']:.0f} / {m['peak']:.0f} / {m['end']:.0f} MiB",
                                      f"{m['peak_first_quarter']:.0f} / {m['peak_last_quarter']:.0f} MiB",
                                      f"{c['mean']:.2f} / {c['busiest_second']:.2f} cores"]


def test_the_load_table_and_conditions_are_the_json():
    sec = benchmarks("Classroom load")
    current = sec[:sec.index("### History")]
    text = flat(current)
    rows = table(current)
    assert len(rows) == len(LOADS)
    for label, name in LOADS.items():
        d = data(name)
        n = d["sessions"]
        key = f"{n}" + (" (class)" if d.get("replicas") else "")
        assert rows[key] == load_row(d), label
        assert d["command"] in text
        assert (f"{label}: {load_note(d, after=True)}; other processes used {d['other_cpu_cores']:.2f} cores "
                "during the run") in text
        assert f"Measured {d['date'][:10]} on an {cpu_model(d)}, {d['cores']} cores" in text
        m = d["server_rss_mib"]
        assert f"{m['idle_after_start']:.0f} MiB before the first session" in text or d.get("replicas")
    for how, name in TARGET_RUNS.items():
        d = data(name)
        open95, step95 = d["actions"]["open"]["p95_s"], d["actions"]["step"]["p95_s"]
        assert (f"{how}: first page {s(open95)} s, {verdict(open95 <= 5)}; steps {s(step95)} s, {verdict(step95 <= 1)}; "
                f"{d['errors']} errors, {verdict(d['errors'] == 0)}") in text, how


def test_the_current_load_figures_are_the_jsons_and_the_history_is_dated():
    sec = benchmarks("Classroom load")
    heading = sec[sec.index("### History"):].splitlines()[0]
    assert re.search(r"measured \d{4}-\d\d-\d\d; not current figures", heading)
    current = prose(sec[:sec.index("### History")])
    allowed = {"10", "0.5", "1.5", "127.0", "5", "1", "27", "2", "0", "95", "30", "60"}
    for name in LOADS.values():
        d = data(name)
        m = d["server_rss_mib"]
        allowed |= {*d["date"][:10].split("-"), f"{d['cores']}", f"{d['other_cpu_cores']:.2f}",
                    f"{d['load_before'][0]:.2f}", f"{d['load_after'][0]:.2f}", str(d["errors"]),
                    s(d["actions"]["open"]["p95_s"]), s(d["actions"]["step"]["p95_s"])}
        allowed |= {f"{m[k]:.0f}" for k in ("idle_after_start", "peak_first_quarter", "peak_last_quarter")}
    said = numbers(current)
    assert said <= allowed, f"numbers in the current load figures that no JSON holds: {said - allowed}"


# --- docs/benchmarks.md: clicks ----------------------------------------------------------------------------

CLICK_ROWS = {"first open (fresh server: model load included)": "first open",
              "second open (same server, new browser context)": "second open",
              "Step, default section": "step", "Step, default section (page drawn)": "step (page drawn)",
              'Step, "State per layer" open': "step, State per layer open",
              'Step, "State per layer" open (page drawn)': "step, State per layer open (page drawn)",
              "sampling change (seed + 1)": "sampling change",
              "Lab open (the navigation's link, from the Explorer)": "lab open"}


def ms(x: float) -> str:
    return f"{x:,.0f} ms"


def test_the_clicks_table_is_the_json():
    d = data("clicks.json")
    sec = benchmarks("Clicks in a real browser")
    rows, text = table(sec), flat(sec)
    assert set(CLICK_ROWS.values()) == set(d["rows"])
    assert set(rows) == set(CLICK_ROWS)
    for label, key in CLICK_ROWS.items():
        r = d["rows"][key]
        assert rows[label] == [str(r["n"]), ms(r["median_ms"]), ms(r["min_ms"]), ms(r["max_ms"]),
                               f"{r['payload_kib']:.1f}", f"{r['wire_kib']:.1f}"], label
    assert d["command"] in text
    assert f"Measured {d['date'][:10]} on an {cpu_model(d)}, {d['cores']} cores" in text
    assert f"the app at commit {d['commit'].split()[0]}" in text
    assert load_note(d, after=True) in text
    f = d["fast_clicks"]
    assert f["clicks"] == 5 and (f"Five Step clicks 80 ms apart: {f['taken']} taken by the button, {f['refused']} "
                                 f"refused visibly (greyed out while busy), {f['tokens']} tokens added") in text
    step = d["rows"]["step"]["median_ms"]
    assert f"within 300 ms in Chromium on this 2-core machine): {ms(step)}, {verdict(step <= 300)}" in text
    said = numbers(prose(sec))
    allowed = {"50", "20", "2", "300", "27", "5", "80", "60", f"{d['load_before'][0]:.2f}", f"{d['load_after'][0]:.2f}",
               *d["date"][:10].split("-"),
               str(f["taken"]), str(f["refused"]), str(f["tokens"]), ms(step).split()[0]}
    assert said <= allowed, f"numbers in the clicks section that no JSON holds: {said - allowed}"


# --- docs/benchmarks.md: bad inputs ------------------------------------------------------------------------

def rss(i: dict) -> str:
    return f"{i['peak_rss_mib']:.0f} ({i['change_mib']:+.0f})"


def test_the_bad_inputs_table_is_the_json():
    modes = data("bad_inputs.json")["modes"]
    loose, strict = modes["any"], modes["models"]
    sec = benchmarks("Bad checkpoint inputs")
    rows, text = table(sec), flat(sec)
    assert list(rows) == [i["input"] for i in loose["inputs"]] == [i["input"] for i in strict["inputs"]]
    for a, m in zip(loose["inputs"], strict["inputs"]):
        assert a["message"].endswith(SUFFIX), a["input"]
        assert rows[a["input"]] == [f"{a['seconds']:.2f}", rss(a), "yes" if a["kept"] else "no",
                                    a["message"][:-len(SUFFIX)], f"{m['seconds']:.2f}", rss(m),
                                    "yes" if m["kept"] else "no"], a["input"]
    assert all(i["message"].endswith(SUFFIX) for i in strict["inputs"])
    assert f'Every message ends with "{SUFFIX.strip()}"' in text
    for label, rec in (("Not limited", loose), ("Limited", strict)):
        assert rec["command"] in text
        assert (f"{label}: {load_note(rec, after=True)}; idle {rec['idle_rss_mib']:.0f} MiB") in text
        assert f"Measured {rec['date'][:10]} on an {cpu_model(rec)}, {rec['cores']} cores" in text
    assert (f"largest rise over idle was {loose['largest_rise_mib']:.0f} MiB not limited and "
            f"{strict['largest_rise_mib']:.0f} MiB limited") in text
    assert loose["server_alive"] and strict["server_alive"] and "alive at the end of both runs" in text


def test_the_bad_inputs_summaries_are_computed_from_the_json():
    modes = data("bad_inputs.json")["modes"]
    text = flat(benchmarks("Bad checkpoint inputs"))
    # "From /proc/self/environ on, the RSS is below the idle figure"
    changes = [(i["input"], i["change_mib"]) for i in modes["any"]["inputs"]]
    first = next(k for k, (_, c) in enumerate(changes) if c < 0)
    assert changes[first][0] == "/proc/self/environ" and all(c < 0 for _, c in changes[first:])
    assert "From `/proc/self/environ` on, the RSS is below the idle figure" in text
    # limited: how many got the one refusal, and what the others got
    said = Counter(i["message"].split(": ", 1)[1][:-len(SUFFIX)].rstrip(".") for i in modes["models"]["inputs"])
    (refusal, count), = said.most_common(1)
    others = [i for i in modes["models"]["inputs"] if not i["message"].endswith(refusal + "." + SUFFIX)]
    total = len(modes["models"]["inputs"])
    assert f'{count} of the {total} inputs got the same refusal ("{refusal}")' in text
    names = " and ".join(f"`{i['input']}`" for i in others)
    assert f"the other {len(others)}, {names}," in text
    assert all(f'("{i["message"].split(": ", 1)[1][:-len(SUFFIX)].rstrip(".")}")' in text for i in others)


def test_every_number_in_the_bad_inputs_prose_is_a_json_figure():
    modes = data("bad_inputs.json")["modes"]
    allowed = {"127.0", "5", "100"}
    for rec in modes.values():
        allowed |= {*rec["date"][:10].split("-"), str(rec["cores"]), f"{rec['idle_rss_mib']:.0f}",
                    f"{rec['load_before'][0]:.2f}", f"{rec['load_after'][0]:.2f}", f"{rec['largest_rise_mib']:.0f}"}
    said = Counter(i["message"].split(": ", 1)[1] for i in modes["models"]["inputs"])
    allowed |= {str(max(said.values())), str(len(modes["models"]["inputs"])),
                str(len(modes["models"]["inputs"]) - max(said.values()))}
    said = numbers(prose(benchmarks("Bad checkpoint inputs")))
    assert said <= allowed, f"numbers in the bad-inputs section that no JSON holds: {said - allowed}"


def test_the_readmes_other_classroom_figures_are_the_json():
    """The bad-input and replica lines outside the measured paragraph read the same files."""
    text = " ".join((ROOT / "README.md").read_text().split())
    bad = json.loads((ROOT / "docs/deploy/bad_inputs.json").read_text())["modes"]["any"]
    zero = next(i for i in bad["inputs"] if i["input"] == "/dev/zero")
    assert f"Typing `/dev/zero` with the limit off raised the server's memory by {zero['change_mib']:.1f} MiB" in text
    peak = json.loads((ROOT / "docs/deploy/load_30.json").read_text())["server_rss_mib"]["peak"]
    assert "about 0.5 GB" not in text and "holds a class of 30" not in text
    assert f"{peak:.0f} MiB of memory at the peak with 30 sessions" in text
    one, two = (data(LOADS[k])["actions"]["step"]["p95_s"] for k in list(LOADS)[1:])
    assert f"but its steps queue ({s(one)} s at the 95th percentile)" in text
    assert f"answer each step within {s(two)} s at the 95th percentile" in text
    deploy = " ".join((ROOT / "deploy/README.md").read_text().split())
    cls = data(LOADS["60 students, the classroom deployment"])
    assert (f"the first page took {s(cls['actions']['open']['p95_s'])} s at the 95th percentile through two warmed "
            "replicas (`docs/deploy/load_60_class.json`)") in deploy and cls["replicas"] == 2
