"""research/selection/selection_pool.py: pool rules scored offline from the target
probabilities that benchmarks/selection.py --probas saves."""

from types import SimpleNamespace

import numpy as np
import pytest
from selection import save_probas
from selection_pool import gaps, load_run, main, parse_rule, split_rules


def _onehot(labels, k=3, confidence=0.9):
    out = np.full((len(labels), k), (1 - confidence) / (k - 1))
    out[np.arange(len(labels)), labels] = confidence
    return out


def test_selection_pool_scores_saved_runs(tmp_path, capsys):
    y = np.arange(20) % 2
    right = _onehot(y, k=2, confidence=0.95)
    wrong = _onehot(np.where(np.arange(20) < 10, y, 1 - y), k=2, confidence=0.8)  # 50 %
    run = {
        "method": ["jda", "coral", "coral", "ot"],
        "params": [{}, {}, {"regularization": 10.0}, {}],
        "accuracy": [1.0, 0.5, 0.5, float("nan")],
        "scores": {"source_accuracy": [0.5, 0.9, 0.9, float("nan")]},
    }
    folds = [[right, wrong, wrong, wrong], [right, wrong, wrong, None]]  # ot failed on fold 2
    evaluation = [right, wrong, wrong, None]
    save_probas(tmp_path / "digits-a-b-seed0.npz", folds, evaluation, y, run)
    saved = load_run(str(tmp_path / "digits-a-b-seed0.npz"))
    assert saved["suite"] == "digits" and saved["fold_probas"].shape == (4, 2, 20, 2)
    ensv, dedup = parse_rule("ensv")(saved), parse_rule("ensv_dedup")(saved)
    assert np.nanargmax(ensv) == 1 and np.isnan(ensv[3])  # two wrong voters outvote one
    assert np.nanargmax(dedup) == 0  # counted once, they do not
    assert gaps(saved, dedup) == (0.0, 0.0)
    in_sample, split_half = gaps(saved, ensv)
    assert in_sample == -50.0 and split_half == pytest.approx(-50.0, abs=5)
    guarded = parse_rule("guard(ensv_dedup,0.05)")(saved)  # the right one is far worse on source
    assert np.isnan(guarded[0]) and np.nanargmax(guarded) == 1
    assert main([str(tmp_path / "digits-a-b-seed0.npz")]) == 0
    out = capsys.readouterr().out
    assert "| ensv_dedup | +0.0 / +0.0 |" in out and "| ensv | -50.0 /" in out
    assert "| defaults | -25.0 /" in out  # jda {} and coral {}; ot {} failed
    assert main([str(tmp_path / "digits-a-b-seed0.npz"), "--decimals", "2"]) == 0
    assert "| ensv_dedup | +0.00 / +0.00 |" in capsys.readouterr().out
    assert main([str(tmp_path / "digits-a-b-seed0.npz"), "--per-run", "--rules", "ensv"]) == 0
    assert "| digits-a-b-seed0.npz | -50.0 coral {} |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="unknown rule"):
        parse_rule("borda(ensv)")
    harness = tmp_path / "office-caltech-surf-harness-a-b-seed0.npz"
    save_probas(harness, folds, evaluation, y, run)
    assert load_run(str(harness))["suite"] == "office-caltech-surf-harness"  # the longest name
    with pytest.raises(SystemExit, match="unknown rule"):
        parse_rule("ensv_graph(10)")  # neighbours and alpha, or neither
    assert split_rules("guard(ensv_dedup(0.6),0.05),ensv") == [
        "guard(ensv_dedup(0.6),0.05)",
        "ensv",
    ]


def test_selection_pool_can_let_ot_mappings_past_the_guard(tmp_path):
    y = np.arange(20) % 2
    right = _onehot(y, k=2, confidence=0.95)
    wrong = _onehot(np.where(np.arange(20) < 10, y, 1 - y), k=2, confidence=0.8)
    run = {
        "method": ["coral", "ot"],
        "params": [{}, {"method": "sinkhorn"}],
        "accuracy": [0.5, 1.0],
        "scores": {"source_accuracy": [0.9, 0.3]},  # OT: a nearest-neighbour source accuracy
    }
    save_probas(tmp_path / "digits-a-b-seed0.npz", [[wrong, right]], [wrong, right], y, run)
    saved = load_run(str(tmp_path / "digits-a-b-seed0.npz"))
    guarded = parse_rule("guard(source_accuracy,0.05)")(saved)
    assert np.isnan(guarded[1]) and guarded[0] == 0.9
    passes = parse_rule("guard(source_accuracy,0.05,ot)")(saved)
    assert passes.tolist() == [0.9, 0.3]  # OT kept, with its own score


def test_selection_pool_guard_can_widen_on_a_small_source(tmp_path):
    y = np.arange(20) % 2
    right = _onehot(y, k=2, confidence=0.95)
    run = {
        "method": ["coral", "jda"],
        "params": [{}, {}],
        "accuracy": [0.5, 1.0],
        "scores": {"source_accuracy": [0.9, 0.83]},  # 7 points below
    }
    save_probas(tmp_path / "digits-a-b-seed0.npz", [[right, right]], [right, right], y, run)
    saved = load_run(str(tmp_path / "digits-a-b-seed0.npz"))
    assert np.isnan(parse_rule("guard(source_accuracy,0.05)")(saved)[1])
    widened = parse_rule("guard(source_accuracy,0.05,ci)")
    saved["_problem"] = SimpleNamespace(
        n_source=100
    )  # 1.96 * sqrt(2 * 0.9 * 0.1 / 100) = 8.3 points
    assert widened(saved).tolist() == [0.9, 0.83]
    saved["_problem"] = SimpleNamespace(n_source=2000)  # 1.7 points: the fixed 5
    assert np.isnan(widened(saved)[1])
    assert split_rules("guard(ensv_graph(5,0.8),0.05,ot,ci),ensv") == [
        "guard(ensv_graph(5,0.8),0.05,ot,ci)",
        "ensv",
    ]


def test_selection_pool_can_propagate_each_candidate(tmp_path):
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=5.0, size=(2, 4))
    y = np.repeat([0, 1], 15)
    X = centres[y] + rng.normal(size=(30, 4))
    unsure = _onehot(y, k=2, confidence=0.95)
    isolated = np.array([0, 5, 10, 15, 20, 25])
    unsure[isolated] = _onehot(1 - y[isolated], k=2, confidence=0.55)  # 6 unsure mistakes
    smooth = _onehot(np.where(np.arange(30) >= 25, 0, y), k=2, confidence=0.95)  # 5, sure
    right = _onehot(y, k=2, confidence=0.95)
    run = {
        "method": ["jda", "coral", "tca"],
        "params": [{}, {}, {}],
        "accuracy": [1.0, 25 / 30, 24 / 30],
        "scores": {"source_accuracy": [0.9, 0.9, 0.9]},
    }
    pool = [right, smooth, unsure]
    save_probas(tmp_path / "digits-a-b-seed0.npz", [pool], pool, y, run)
    saved = load_run(str(tmp_path / "digits-a-b-seed0.npz"))
    saved["_problem"] = SimpleNamespace(X_target=X)
    plain = parse_rule("ensv_graph(5,0.5)")(saved)
    propagated = parse_rule("ensv_graph(5,0.5,prop)")(saved)
    assert plain[1] > plain[2] and propagated[2] > propagated[1]
    assert parse_rule("ensv_graph(prop)")(saved).tolist() == (
        parse_rule("ensv_graph(10,0.5,prop)")(saved).tolist()
    )
    for bad in ("ensv_graph()", "ensv_graph(,prop)", "ensv_graph(5,prop)"):
        with pytest.raises(SystemExit, match="unknown rule"):
            parse_rule(bad)


def test_selection_pool_bootstrap_interval_redraws_pairs(tmp_path, capsys):
    y = np.arange(20) % 2
    right = _onehot(y, k=2, confidence=0.95)
    wrong = _onehot(np.where(np.arange(20) < 10, y, 1 - y), k=2, confidence=0.8)  # 50 %
    run = {
        "method": ["jda", "coral"],
        "params": [{}, {}],
        "accuracy": [1.0, 0.5],
        "scores": {"source_accuracy": [0.9, 0.9]},
    }
    # source accuracy ties, so the first candidate is picked: right on pair a-b (gap 0),
    # wrong on pair c-d (gap -50)
    save_probas(tmp_path / "digits-a-b-seed0.npz", [[right, wrong]], [right, wrong], y, run)
    flipped = {**run, "accuracy": [0.5, 1.0]}
    for seed in (0, 1):  # two runs of one pair count as one draw
        save_probas(
            tmp_path / f"digits-c-d-seed{seed}.npz", [[right, wrong]], [wrong, right], y, flipped
        )
    files = sorted(str(p) for p in tmp_path.glob("*.npz"))
    assert main([*files, "--bootstrap", "500", "--rules", "source_accuracy"]) == 0
    out = capsys.readouterr().out
    # point: mean over runs (0, -50, -50); each draw of 2 pairs gives 0, -33.3 or -50
    assert "| source_accuracy | -33.33 | -50.00 … +0.00 |" in out
    assert "| defaults | -25.00 |" in out
    for bad in (["--bootstrap", "0"], ["--bootstrap", "10", "--per-run"]):
        with pytest.raises(SystemExit):
            main([*files, *bad])
    assert "positive number of draws" in capsys.readouterr().err
