"""The Scheduling Lab's timing path (the figures' side is tests/test_visuals_schedule.py): benchmark
records are read and checked and drawn, and on the real embedded model the timed runs agree, the
watch figure shows the recorded run, the scaling measurement writes a valid record, and the watch
GIF holds one image per step."""
import io
import json

import pytest
import torch
from app_helpers import embedded
from PIL import Image

from app import scheduling_core as sc
from lab import bench_record
from visuals import export
from visuals import frames as vf
from visuals import schedule as vs
from visuals import timing as vt

# --- benchmark records ----------------------------------------------------------------------

RECORD = {"device": "CPU: test", "shape": {"n_layer": 6},
          "rows": [{"mode": "rnn", "chunk": None, "workers": None, "n_tokens": 64, "seconds": 0.4},
                   {"mode": "rnn", "chunk": None, "workers": None, "n_tokens": 64, "seconds": 0.2},
                   {"mode": "rnn", "chunk": None, "workers": None, "n_tokens": 64, "seconds": 0.3},
                   {"mode": "rnn", "chunk": None, "workers": None, "n_tokens": 128, "seconds": 0.6},
                   {"mode": "cascade", "chunk": 8, "workers": None, "n_tokens": 64, "seconds": 0.05},
                   {"mode": "cascade", "chunk": 8, "workers": None, "n_tokens": 128, "seconds": 0.09},
                   {"mode": "cascade", "chunk": 32, "workers": 2, "n_tokens": 128, "seconds": 0.03},
                   {"mode": "parallel", "chunk": None, "workers": None, "n_tokens": 128, "seconds": 0.02}]}


def test_parse_bench_accepts_the_schema_and_names_what_is_wrong(tmp_path):
    assert bench_record.parse(RECORD)["rows"][0]["seconds"] == 0.4
    bad = [({**RECORD, "device": ""}, "device"), ({**RECORD, "shape": {}}, "n_layer"),
           ({**RECORD, "rows": [{**RECORD["rows"][0], "mode": "gpt"}]}, "mode"),
           ({**RECORD, "rows": [{**RECORD["rows"][4], "chunk": None}]}, "chunk"),
           ({**RECORD, "rows": [{**RECORD["rows"][0], "seconds": -1}]}, "seconds")]
    for obj, word in bad:
        with pytest.raises(ValueError, match=word):
            bench_record.parse(obj)
    (tmp_path / "a.json").write_text(json.dumps(RECORD))
    (tmp_path / "b.json").write_text("{not json")
    (tmp_path / "c.json").write_text(json.dumps({**RECORD, "rows": []}))
    records, problems = bench_record.read_folder(tmp_path)
    assert [r["file"] for r in records] == ["a.json"] and len(problems) == 2


def test_scaling_figure_ideal_steps_and_medians():
    fig = vt.scaling_figure([bench_record.parse(RECORD)])
    by = {(tr.name, tr.xaxis): tr for tr in fig.data}
    rnn_ideal, rnn_time = by[("rnn", "x")], by[("rnn", "x2")]
    assert list(rnn_ideal.y) == [6 * 64, 6 * 128]
    assert list(rnn_time.y) == [0.3, 0.6]                      # the median of 0.4, 0.2, 0.3
    assert list(by[("cascade (chunk 8)", "x")].y) == [6 + 8 - 1, 6 + 16 - 1]
    assert list(by[("cascade (chunk 32), 2 workers", "x")].y) == [6 + 4 - 1]
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis2.type == "log"


def test_chunk_figure_at_the_longest_length():
    fig = vt.chunk_figure([bench_record.parse(RECORD)])
    lines = {tr.name: (list(tr.x), list(tr.y)) for tr in fig.data}
    assert lines == {"cascade, T=128": ([8], [0.09]), "cascade, T=128, 2 workers": ([32], [0.03])}
    refs = sorted(s.y0 for s in fig.layout.shapes)
    assert refs == [0.02, 0.6]


# --- the timing path on the real model -----------------------------------------------------

@pytest.fixture(scope="module")
def model():
    return embedded()


@pytest.fixture(scope="module")
def prompt(model):
    return model.tokenizer.encode(sc.DEFAULT_PROMPT)


def test_timed_runs_on_the_embedded_model(model, prompt):
    tokens = sc.grid_tokens(prompt, 40)
    runs = sc.run_schedules(model, tokens, chunk=8)
    assert [r.label for r in runs] == ["rnn", "cascade (chunk 8)", "parallel"]
    for r in runs:
        assert len(r.timings.step_seconds) == r.plan.n_steps == sc.step_counts(6, 40, 8)[r.plan.mode]
        assert all(s > 0 for s in r.timings.step_seconds)
        assert r.timings.total_seconds >= sum(r.timings.step_seconds) * 0.999
        assert r.max_diff_vs_rnn < sc.SAME_TOLERANCE
    # the rnn's logits are the model's, run the ordinary way
    assert torch.allclose(runs[0].logits, model.forward(tokens, mode="parallel")[0], atol=1e-4)
    totals = vt.totals_figure([{"label": r.label, "seconds": r.timings.total_seconds, "n_tokens": 40} for r in runs])
    assert list(totals.data[0].y) == pytest.approx([r.timings.total_seconds * 1000 for r in runs])
    steps = vt.step_times_figure({r.label: r.timings.step_seconds for r in runs})
    assert [len(tr.y) for tr in steps.data] == [240, 6 + 5 - 1, 6]
    frames = vf.race_frames([r.timings.step_seconds for r in runs])
    fig = vs.grid_figure([r.plan for r in runs], frames=frames, device=runs[0].timings.device)
    assert len(fig.frames) == frames.n_frames and "slower than measured" in fig.layout.title.text


def test_watch_figure_from_a_recorded_run(model, prompt):
    tokens = prompt[:12]
    plan = model.plan_for(len(tokens), "rnn")
    data = sc.watch_data(model, tokens, plan)
    fig = vs.watch_figure(plan, **{k: data[k] for k in vs.WATCH_FIELDS})
    L = model.config.n_layer
    assert len(fig.frames) == L * len(tokens) and data["max_diff_recorded_vs_timed"] == 0.0
    # the final layer states' memory averages match the state the engine hands back
    _, state = model.forward(tokens, mode="parallel")
    for i, ls in enumerate(state.layers):
        assert data["state_norms"][i][-1] == pytest.approx(float(torch.linalg.vector_norm((ls.aa / ls.bb).double())),
                                                           rel=1e-5)
    probs = torch.softmax(model.forward(tokens, mode="parallel")[0].double(), -1)
    for f in (L - 2, L - 1, 3 * L - 1, len(fig.frames) - 1):
        bars = [tr for tr in fig.frames[f].data if tr.type == "bar"][0]
        n_done = (f + 1) // L                                  # tokens whose top layer has run
        if n_done == 0:
            assert len(bars.x) == 0
            continue
        t = n_done - 1
        assert list(bars.x) == pytest.approx(torch.topk(probs[t], sc.TOP_NEXT).values.tolist(), abs=1e-5)
    assert "slower" in fig.layout.title.text
    keys = {"type", "x", "y", "text", "fillcolor"}                 # frames carry values, never styles
    assert all(set(d) <= keys for fr in json.loads(fig.to_json())["frames"] for d in fr["data"])


def test_scaling_measurement_on_the_embedded_model(model):
    record = sc.measure_scaling(model, [8, 16], [4])
    parsed = bench_record.parse(json.loads(bench_record.to_json(record)))
    assert [(r["mode"], r["chunk"], r["n_tokens"]) for r in parsed["rows"]] == [
        ("rnn", None, 8), ("cascade", 4, 8), ("parallel", None, 8),
        ("rnn", None, 16), ("cascade", 4, 16), ("parallel", None, 16)]
    assert parsed["shape"]["n_layer"] == 6
    assert bench_record.is_gpu(parsed) == (model.device.type == "cuda")


def test_watch_gif_has_one_image_per_frame(model, prompt):
    tokens = prompt[:10]
    plan = model.plan_for(len(tokens), "cascade", 3)
    data = sc.watch_data(model, tokens, plan)
    frames = vf.measured_frames(data["step_seconds"], max_frames=120)
    gif = Image.open(io.BytesIO(export.watch_gif(plan, **{k: data[k] for k in vs.WATCH_FIELDS})))
    assert gif.n_frames == frames.n_frames == plan.n_steps == 6 + 4 - 1
