"""The engine benchmark runs end to end on a tiny shape (its figures are not checked: speed is
measured by running the script, never by a test), with its bounds, A/B and route table."""
import json

from lab import bench


def test_bench_runs_and_pairs_with_the_package(tmp_path, capsys):
    out = tmp_path / "bench.json"
    scaling = tmp_path / "scaling.json"
    r = bench.main(["--device", "cpu", "--layers", "2", "--width", "32", "--vocab", "97", "--prefill", "8", "16",
                    "--chunks", "1", "4", "--cascade-tokens", "16", "--rnn-tokens", "16", "--decode-tokens", "3",
                    "--rounds", "2", "--scaling", "8", "16", "--scaling-json", str(scaling), "--json", str(out),
                    "--ab", "--ab-prefill", "16", "--ab-rounds", "1"])
    assert set(r["paired"]) == {"decode", "prefill_8", "prefill_16"}
    for row in r["paired"].values():
        assert len(row["ours_rounds"]) == 2 and row["ours"] > 0
        assert len(row["pkg_rounds"]) == 2 and row["ratio_min"] <= row["ratio"] <= row["ratio_max"]
    assert r["ours"]["parallel_over_rnn_16"] > 0
    assert set(r["ours"]) >= {"cascade_16_chunk1_tok_s", "cascade_16_chunk4_tok_s", "rnn_16_tok_s"}
    assert json.loads(out.read_text())["paired"]["decode"]["ours"] == r["paired"]["decode"]["ours"]
    assert {row["n_tokens"] for row in json.loads(scaling.read_text())["rows"]} == {8, 16}
    # this machine's bounds, measured on the model's weights, and the fraction of each reached
    b = r["bounds"]
    assert b["bytes_per_token"] == 4 * (2 * (5 * 32 * 32 + 2 * 32 * 128) + 97 * 32)   # float32 layers + head
    assert b["flops_per_token"] == 2 * 2 * (5 * 32 * 32 + 2 * 32 * 128)
    assert b["decode_bound_tok_s"] > 0 and b["prefill_bound_tok_s"] > 0 and b["cascade_bound_tok_s"] > 0
    assert b["gbps_route"] in bench.fast.ROUTES and b["gflops_route"] in bench.fast.ROUTES
    o = r["call_overhead"]
    assert o["ratio_min"] <= o["ratio"] <= o["ratio_max"] and o["per_call_ms"] > 0
    # the A/B: decode and the prefill with each route forced, beside the measured choice
    assert set(r["ab"]) == {"decode", "prefill_16"}
    assert all(set(row) == {"auto", "linear", "split", "onednn", "mv"} for row in r["ab"].values())
    assert all(row["linear"]["vs_linear"] == 1.0 for row in r["ab"].values())
    assert r["routes"] and all(x["route"] in bench.fast.ROUTES for x in r["routes"])
    # the Lab's sentence on the concurrent cascade: measured speedup beside its bound, from the JSON file
    note = bench.bench_record.concurrent_note(out)
    row = r["concurrent_cascade"][0]
    assert f"{row['speedup_vs_rnn']:.2f}× rnn measured; bound " in note and "GB/s" in note
    assert "no bound" in bench.bench_record.concurrent_note({**r, "bounds": None})
    assert bench.bench_record.concurrent_note(tmp_path / "missing.json") is None
    assert bench.bench_record.concurrent_note({"device": "x"}) is None
    table = capsys.readouterr().out
    assert "ours/pkg" in table and "prefill_16" in table and "parallel / rnn at 16 tokens" in table
    assert "decode bound" in table and "prefill bound" in table and "chunk 1 bound" in table
    assert "of its bound" in table and "A/B" in table and "the products' routes" in table


def test_bench_without_the_package(capsys):
    r = bench.main(["--device", "cpu", "--layers", "1", "--width", "16", "--vocab", "50", "--prefill", "4",
                    "--chunks", "2", "--cascade-tokens", "4", "--rnn-tokens", "4", "--decode-tokens", "2",
                    "--rounds", "1", "--workers", "1", "--no-package", "--no-bounds"])
    assert r["rwkv_package"] is None and "pkg" not in r["paired"]["prefill_4"] and "bounds" not in r
    assert "prefill_4" in capsys.readouterr().out
