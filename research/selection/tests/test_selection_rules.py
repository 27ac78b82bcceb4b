"""research/selection/selection_rules.py: combined selection rules scored from saved runs."""

import numpy as np
import pytest
from selection_rules import family, gaps, parse_rule


def _run(accuracy, **scores):
    n = len(accuracy)
    return {
        "suite": "toy",
        "pair": "a->b",
        "method": ["source_only"] + ["coral"] * (n - 1),
        "params": [{}] + [{"regularization": float(i)} for i in range(1, n)],
        "accuracy": accuracy,
        "scores": scores,
    }


def test_guard_drops_candidates_far_below_the_best_source_accuracy():
    # mixval prefers candidate 2, whose held-out source accuracy is 10 points below the best
    run = _run(
        [0.5, 0.7, 0.3],
        mixval=[0.1, 0.5, 0.9],
        source_accuracy=[0.80, 0.78, 0.70],
        ensv=[0.2, 0.3, 0.1],
    )
    _, table = gaps([run], ["mixval", "guard(mixval,0.05)", "guard(mixval,0.2)"])
    assert table["mixval"][0] == pytest.approx(-40.0)  # picks 0.3, the oracle 0.7
    assert table["guard(mixval,0.05)"][0] == pytest.approx(0.0)
    assert table["guard(mixval,0.2)"][0] == pytest.approx(-40.0)


def test_borda_averages_ranks_and_skips_candidates_without_every_score():
    run = _run(
        [0.4, 0.9, 0.6, 0.3, 0.8],
        mixval=[0.9, 0.8, 0.2, 0.1, None],  # ranks 0, 1, 2, 3, last
        ensv=[0.1, 0.9, 0.8, 0.2, 1.0],  # ranks 4, 1, 2, 3, 0
        source_accuracy=[0.5] * 5,
    )
    score = parse_rule("borda(mixval+ensv)")(run)
    assert np.isnan(score[4])  # no mixval score: never picked
    np.testing.assert_allclose(score[:4], [-2.0, -1.0, -2.0, -3.0])
    _, table = gaps([run], ["mixval", "ensv", "borda(mixval+ensv)"])
    assert table["mixval"][0] == pytest.approx(-50.0)
    assert table["ensv"][0] == pytest.approx(-10.0)
    assert table["borda(mixval+ensv)"][0] == pytest.approx(0.0)


def test_tied_scores_share_their_mean_rank():
    run = _run([0.5, 0.6, 0.7], mixval=[0.2, 0.2, 0.1], ensv=[0.1, 0.3, 0.2])
    score = parse_rule("borda(mixval+ensv)")(run)
    np.testing.assert_allclose(score, [-(0.5 + 2) / 2, -(0.5 + 0) / 2, -(2 + 1) / 2])


def test_rule_names_parse_and_bad_ones_are_refused():
    for name in family():
        assert callable(parse_rule(name))
    with pytest.raises(ValueError, match="unknown rule"):
        parse_rule("majority(mixval)")
    with pytest.raises(ValueError, match="tolerance"):
        parse_rule("guard(mixval)")


def test_best_per_suite_is_chosen_per_suite(tmp_path, capsys):
    import json

    from selection_rules import main

    office = _run([0.5, 0.9, 0.6], mixval=[0.1, 0.9, 0.2], ensv=[0.9, 0.1, 0.2])
    digits = {
        **_run([0.5, 0.4, 0.8], mixval=[0.9, 0.2, 0.1], ensv=[0.1, 0.2, 0.9]),
        "suite": "digits",
    }
    for run in (office, digits):
        run["scores"]["source_accuracy"] = [0.5, 0.5, 0.5]
    path = tmp_path / "runs.json"
    path.write_text(json.dumps([office, digits]))
    assert main([str(path), "--rules", "mixval,ensv", "--best-per-suite"]) == 0
    out = capsys.readouterr().out
    assert "| toy | mixval | +0.0 |" in out
    assert "| digits | ensv | +0.0 |" in out
    assert "| mean of the suites | | +0.0 |" in out
