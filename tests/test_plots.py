"""Domain-score histograms (Figure 18) and 2-D embeddings, and their CLI commands."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image
from sklearn.linear_model import LogisticRegression

from transferkit.base import AdaptedClassifier
from transferkit.domain_classifier import proxy_a_distance, proxy_a_distance_from_error
from transferkit.exceptions import InvalidParameterError
from transferkit.plots import (
    domain_classifier_scores,
    plot_domain_scores,
    plot_embedding,
    representations,
)
from transferkit.problem import TransferProblem


def _panels(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "plain": (rng.normal(size=(150, 4)), rng.normal(3.0, size=(150, 4))),
        "adapted": (rng.normal(size=(150, 4)), rng.normal(size=(150, 4))),
    }


def test_domain_scores_separate_shifted_domains_and_not_aligned_ones():
    panels = _panels()
    s_plain, t_plain, acc_plain = domain_classifier_scores(*panels["plain"])
    _, _, acc_adapted = domain_classifier_scores(*panels["adapted"])
    assert acc_plain > 0.95 and t_plain.mean() > 0.8 > 0.2 > s_plain.mean()
    assert acc_adapted < 0.65
    # the one proxy A-distance (transferkit.domain_classifier) agrees with the plotted scores
    assert proxy_a_distance(*panels["plain"], random_state=0) > 1.8
    assert proxy_a_distance(*panels["adapted"], random_state=0) < 0.6
    assert proxy_a_distance_from_error(1 - acc_plain) > 1.8
    # a classifier below chance shows no separation (it is not read as a flipped one)
    assert proxy_a_distance_from_error(0.8) == 0.0 and proxy_a_distance_from_error(0.2) == 1.2
    with pytest.raises(InvalidParameterError, match="at least 5 rows"):
        domain_classifier_scores(np.zeros((3, 2)), np.ones((3, 2)))


def test_plots_write_png_files(tmp_path):
    path = plot_domain_scores(_panels(), tmp_path / "sub" / "scores.png", title="toy")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 2 * image.size[1]
    labels = (np.arange(150) % 3, np.arange(150) % 3)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # shared cores: OpenMP threads in t-SNE only spin against others
        for method in ("pca", "tsne"):
            out = plot_embedding(
                _panels(), tmp_path / f"{method}.png", method=method, labels=labels, max_points=40
            )
            assert out.stat().st_size > 5000
    with pytest.raises(InvalidParameterError, match="projection"):
        plot_embedding(_panels(), tmp_path / "x.png", method="umap")
    with pytest.raises(InvalidParameterError, match="at least one"):
        plot_domain_scores({}, tmp_path / "none.png")


def test_representations_of_fitted_models():
    rng = np.random.default_rng(0)
    problem = TransferProblem(rng.normal(size=(40, 3)), np.arange(40) % 2, rng.normal(size=(30, 3)))
    plain = AdaptedClassifier(None, LogisticRegression()).fit(problem)
    reps = representations({"plain": plain}, problem)
    assert reps["plain"][0] is problem.X_source and reps["plain"][1] is problem.X_target


def test_cli_plot_domain_scores_and_embedding(tmp_path):
    torch = pytest.importorskip("torch")
    from transferkit.cli.main import extract_features, plot

    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # shared cores: more threads only spin against other workers

    runner = CliRunner()
    params = '{"epochs": 3, "hidden_dim": 16}'
    for command in ("domain-scores", "embedding"):
        out = tmp_path / f"{command}.png"
        result = runner.invoke(
            plot,
            [
                command,
                "moons",
                "source",
                "rotated",
                "--method",
                "dann",
                "--params",
                params,
                "--baseline-params",
                params,
                "--option",
                "n_samples=120",
                "-o",
                str(out),
                "-q",
            ],
        )
        assert result.exit_code == 0, result.output
        assert out.exists() and "Wrote" in result.output
    bad = runner.invoke(
        plot,
        [
            "domain-scores",
            "moons",
            "source",
            "rotated",
            "--params",
            "{x",
            "-o",
            str(tmp_path / "bad.png"),
        ],
    )
    assert bad.exit_code != 0 and "not valid JSON" in bad.output
    wrong = runner.invoke(extract_features, ["digits"])
    torch.set_num_threads(previous)
    assert wrong.exit_code != 0
    assert "office-caltech-images" in str(wrong.exception)


def test_scores_below_chance_are_flagged_with_their_cause_when_it_shows(tmp_path):
    import warnings

    from sklearn.preprocessing import StandardScaler

    from transferkit.domain_classifier import centred_separately, domain_scores, means_matched
    from transferkit.exceptions import DegenerateResultWarning

    rng = np.random.default_rng(0)
    # one distribution, each domain standardised on its own (as the Office-Caltech SURF files)
    standardised = (
        StandardScaler().fit_transform(rng.normal(size=(300, 100))),
        StandardScaler().fit_transform(rng.normal(size=(100, 100))),
    )
    result = domain_scores(*standardised, random_state=0)
    assert result.auc < 0.2 and result.below_chance
    assert centred_separately(*standardised)
    # a draw of a centred domain is no longer centred, but the other one still is (the
    # Office-Caltech harness: 20 source images per class drawn from the standardised domain)
    assert centred_separately(standardised[0][:50] + 0.1, standardised[1])
    assert not centred_separately(standardised[0][:50] + 0.1, standardised[1][:50] + 0.1)
    assert not centred_separately(*_panels()["adapted"])
    import scipy.sparse as sp  # counts stay sparse, and are not centred

    counts = sp.csr_matrix(rng.poisson(0.3, size=(50, 20)).astype(float))
    assert centred_separately(sp.csr_matrix(standardised[0]), standardised[1])
    assert not centred_separately(counts, counts)
    assert not domain_scores(*_panels()["adapted"], random_state=0).below_chance
    with pytest.warns(DegenerateResultWarning, match=r"below chance.*centred on its own mean"):
        plot_domain_scores({"plain": standardised}, tmp_path / "below.png")
    # neither centred, but the source moved onto the target's mean (as CORAL leaves it)
    Zs, Zt = rng.normal(size=(150, 100)) + 2, rng.normal(size=(200, 100)) * 2 + 1
    moved = Zs - Zs.mean(axis=0) + Zt.mean(axis=0)
    assert not centred_separately(moved, Zt) and means_matched(moved, Zt)
    with pytest.warns(
        DegenerateResultWarning, match=r"below chance.*closer than two independent samples"
    ):
        plot_domain_scores({"coral-like": (moved, Zt)}, tmp_path / "matched.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DegenerateResultWarning)
        plot_domain_scores(_panels(), tmp_path / "fine.png")


def test_cli_plot_draws_the_users_own_files_and_says_what_it_cannot_draw(tmp_path):
    from transferkit.cli.main import plot

    rng = np.random.default_rng(0)
    y_source, y_target = np.arange(120) % 2, np.arange(90) % 2
    np.savez(tmp_path / "s.npz", X=rng.normal(size=(120, 5)) + y_source[:, None], y=y_source)
    np.savez(tmp_path / "t.npz", X=rng.normal(size=(90, 5)) + y_target[:, None] + 1.5, y=y_target)
    files = ["--source", str(tmp_path / "s.npz"), "--target", str(tmp_path / "t.npz")]
    runner = CliRunner()
    figure = tmp_path / "scores.png"
    every = ["domain-scores", *files, "--method", "coral", "--rows", "all", "-o", str(figure)]
    drawn = runner.invoke(plot, every)
    assert drawn.exit_code == 0, drawn.output
    assert figure.stat().st_size > 1000
    # every row drawn: CORAL moved the source onto the target's mean, and the warning says so
    assert "closer than two independent samples' would be" in drawn.output
    # the default draws the half the models were not fitted on: no pinned means, no warning
    held_out = runner.invoke(
        plot, ["domain-scores", *files, "--method", "coral", "-o", str(figure)]
    )
    assert held_out.exit_code == 0, held_out.output
    assert "below chance" not in held_out.output
    embedded = runner.invoke(
        plot, ["embedding", *files, "--method", "sa", "-o", str(tmp_path / "e.png"), "-q"]
    )
    assert embedded.exit_code == 0, embedded.output

    def refused(*args: str) -> str:
        result = runner.invoke(plot, ["domain-scores", *args, "-o", str(tmp_path / "no.png")])
        assert result.exit_code != 0 and not (tmp_path / "no.png").exists()
        return str(result.exception or result.output)

    assert "three words, DATASET SOURCE TARGET" in refused("moons", "source")
    assert "Give the data once" in refused("moons", "source", "rotated", *files)
    assert "one feature space" in refused(*files, "--feature-spaces", "different")
    assert "Say which data" in refused("--method", "coral")


def test_held_out_halves_fit_on_one_half_and_draw_the_other():
    from transferkit.multisource import combine_sources, source_domains
    from transferkit.plots import held_out_halves
    from transferkit.registry import make_method

    rng = np.random.default_rng(0)
    X_target = rng.normal(size=(60, 20)) + 1.0
    sources = [(rng.normal(size=(50, 20)) * 2.0, np.arange(50) % 2) for _ in range(2)]
    problem = combine_sources(sources, X_target, np.arange(60) % 2, source_names=["a", "b"])
    fitted, shown = held_out_halves(problem, random_state=0)
    assert fitted.n_source + shown.n_source == 100 and fitted.n_target + shown.n_target == 60
    # every class is in both source halves; each source row keeps its source's name
    assert set(fitted.y_source) == set(shown.y_source) == {0, 1}
    assert len(source_domains(fitted)) == fitted.n_source
    # the accuracy of a model fitted on one half is measured on the other half's target rows
    np.testing.assert_array_equal(fitted.X_test, shown.X_target)
    np.testing.assert_array_equal(fitted.y_test, shown.y_target)
    # the point of the halves: CORAL pins the means of the rows it was fitted on, and only
    # there does the cross-validated domain classifier fall below chance
    model = make_method("coral", {}, random_state=0).fit(fitted)
    on_fitted = representations({"coral": model}, fitted)["coral"]
    on_shown = representations({"coral": model}, shown)["coral"]
    from transferkit.domain_classifier import domain_scores

    assert domain_scores(*on_fitted, random_state=0).below_chance
    assert not domain_scores(*on_shown, random_state=0).below_chance
    with pytest.raises(InvalidParameterError, match="at least 4 rows per domain"):
        held_out_halves(TransferProblem(X_target[:3], np.arange(3) % 2, X_target))
