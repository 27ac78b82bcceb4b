"""The shallow DANN of the JMLR paper (Algorithm 1), numpy only."""

from __future__ import annotations

import numpy as np
import pytest

from transferkit.datasets import get_data_home, load_pair
from transferkit.deep.shallow_dann import ShallowDANN, reverse_validation_score
from transferkit.exceptions import InvalidParameterError, NotApplicableError


def _accuracy(model, problem):
    return float(np.mean(model.predict(problem.X_test) == problem.y_test))


def test_domain_adversarial_term_beats_the_plain_network_on_rotated_moons():
    """The paper's toy (Section 5.1.1): moons rotated by 35 degrees, 15 hidden units."""
    from transferkit.datasets import make_rotated_moons

    problem = make_rotated_moons(n_samples=300, angle=35, random_state=0)
    params = {"hidden_size": 15, "learning_rate": 0.2, "epochs": 60, "patience": None}
    plain = np.mean(
        [
            _accuracy(ShallowDANN(adaptation=0.0, random_state=s, **params).fit(problem), problem)
            for s in (0, 1)
        ]
    )
    adapted = np.mean(
        [
            _accuracy(ShallowDANN(adaptation=1.0, random_state=s, **params).fit(problem), problem)
            for s in (0, 1)
        ]
    )
    assert plain < 0.85
    assert adapted > plain + 0.1


@pytest.mark.parametrize("densify_above", [0.25, 1.1], ids=["densified", "row-by-row"])
def test_sparse_and_dense_inputs_give_the_same_model(nuisance_problem, monkeypatch, densify_above):
    """Both paths for a sparse input: densified (most entries stored) and CSR row by row."""
    from transferkit.deep import shallow_dann

    monkeypatch.setattr(shallow_dann, "DENSIFY_ABOVE", densify_above)
    dense = nuisance_problem()
    sparse = nuisance_problem(sparse=True)
    # every entry of the fixture is stored, so the default threshold takes the dense path
    assert shallow_dann._Rows(sparse.X_source).sparse is (densify_above > 1)
    a = ShallowDANN(epochs=2, random_state=0).fit(dense).predict_proba(dense.X_test)
    b = ShallowDANN(epochs=2, random_state=0).fit(sparse).predict_proba(sparse.X_test)
    assert np.allclose(a, b)


def test_interface_and_domain_scores(nuisance_problem):
    problem = nuisance_problem()
    model = ShallowDANN(epochs=3, hidden_size=8, random_state=0).fit(problem)
    assert model.transform(problem.X_test).shape == (300, 8)
    scores = model.domain_scores(problem.X_test)
    assert scores.shape == (300,) and np.all((scores > 0) & (scores < 1))
    assert np.allclose(model.predict_proba(problem.X_test).sum(1), 1.0)
    assert model.history_ and "validation" in model.history_[0]
    with pytest.raises(InvalidParameterError, match="learning_rate"):
        ShallowDANN(learning_rate=0).fit(problem)


def test_reverse_validation_prefers_a_working_model(nuisance_problem):
    problem = nuisance_problem()
    good = reverse_validation_score(
        ShallowDANN(epochs=10, learning_rate=0.05, random_state=0), problem
    )
    useless = reverse_validation_score(
        ShallowDANN(epochs=1, learning_rate=1e-6, random_state=0), problem
    )
    assert good > useless
    assert 0.0 <= useless <= 1.0 and good > 0.7
    # a model that checkpoints: the two fits do not share (and refuse) one checkpoint file
    model = ShallowDANN(epochs=10, learning_rate=0.05, random_state=0, checkpoint="unused.npz")
    assert reverse_validation_score(model, problem) == good


def test_msda_features_beat_the_plain_network_on_raw_words(pivot_problem):
    """The paper's mSDA + DANN: denoising on both domains links target words to the pivots."""
    from transferkit.registry import make_method

    gains = []
    for seed in (0, 1):
        problem = pivot_problem(seed=seed)
        plain = ShallowDANN(adaptation=0.0, random_state=seed).fit(problem)
        adapted = make_method("msda_shallow_dann", {}, random_state=seed).fit(problem)
        gains.append(
            np.mean(adapted.predict(problem.X_target) == problem.y_target)
            - np.mean(plain.predict(problem.X_target) == problem.y_target)
        )
    assert np.mean(gains) > 0.03


def test_msda_then_shallow_dann_is_registered_and_predicts(nuisance_problem):
    from transferkit.deep.shallow_dann import AdaptedShallowDANN
    from transferkit.invariant import MSDA
    from transferkit.registry import make_method

    problem = nuisance_problem(n=120, sparse=True)
    model = make_method("msda_shallow_dann", {"epochs": 2, "msda": {"n_layers": 1}}, random_state=0)
    assert isinstance(model, AdaptedShallowDANN)
    # the factory forwards each parameter where it belongs and the seed to both parts
    assert (model.adapter.n_layers, model.adapter.random_state) == (1, 0)
    assert (model.dann.epochs, model.dann.random_state) == (2, 0)
    model.fit(problem)
    assert model.predict(problem.X_test).shape == (120,)
    assert model.transform(problem.X_test).shape == (120, 50)
    by_hand = AdaptedShallowDANN(
        MSDA(n_layers=1, random_state=0), ShallowDANN(epochs=2, random_state=0)
    ).fit(problem)
    np.testing.assert_array_equal(
        model.predict_proba(problem.X_test), by_hand.predict_proba(problem.X_test)
    )


_WITHOUT_TORCH = """
import sys


class BlockTorch:  # as if torch were not installed (sys.modules['torch'] = None upsets scipy)
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torch':
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, BlockTorch())
import numpy as np
from transferkit.datasets import make_rotated_moons
from transferkit.registry import available_methods, make_method

problem = make_rotated_moons(n_samples=200, angle=20, random_state=0)
model = make_method("shallow_dann", {"epochs": 30, "hidden_size": 10}, random_state=0)
model.fit(problem)
accuracy = np.mean(model.predict(problem.X_test) == problem.y_test)
print(sorted(available_methods()))
print(round(float(accuracy), 3), "torch" in sys.modules)
"""


def test_shallow_dann_is_registered_and_fits_without_torch():
    """The numpy shallow DANN needs no torch: blocked, it still registers and learns."""
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TORCH],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    methods, outcome = result.stdout.strip().splitlines()[-2:]
    assert "'shallow_dann'" in methods and "'msda_shallow_dann'" in methods
    assert "'dann'" not in methods  # the torch methods are skipped, as they should be
    accuracy, torch_imported = outcome.split()
    assert torch_imported == "False"
    assert float(accuracy) > 0.7


def test_minibatch_variant_learns_and_handles_sparse_rows(nuisance_problem):
    dense = nuisance_problem()
    sparse = nuisance_problem(sparse=True)
    params = {"epochs": 5, "batch_size": 16, "learning_rate": 0.01, "random_state": 0}
    a = ShallowDANN(**params).fit(dense)
    b = ShallowDANN(**params).fit(sparse)
    assert np.allclose(a.predict_proba(dense.X_test), b.predict_proba(sparse.X_test))
    assert np.mean(a.predict(dense.X_source) == dense.y_source) > 0.85


@pytest.mark.parametrize("batch_size", [1, 8])
def test_interrupted_run_resumes_from_its_checkpoint(
    nuisance_problem, tmp_path, batch_size, interrupt_after
):
    problem = nuisance_problem()
    params = {"epochs": 6, "patience": None, "random_state": 0, "batch_size": batch_size}
    reference = ShallowDANN(**params).fit(problem)
    path = tmp_path / "run.npz"
    with pytest.raises(interrupt_after.Interrupted):
        ShallowDANN(**params, checkpoint=path, progress=interrupt_after(3)).fit(problem)
    assert path.exists()
    resumed = ShallowDANN(**params, checkpoint=path).fit(problem)
    # the resumed run goes on exactly as the uninterrupted one: same epochs, same weights
    assert [h["epoch"] for h in resumed.history_] == [float(e) for e in range(6)]
    assert np.array_equal(resumed.W_, reference.W_)
    assert np.array_equal(
        resumed.predict_proba(problem.X_test), reference.predict_proba(problem.X_test)
    )
    # a finished run is not trained again: the file is left as it is
    written = path.stat().st_mtime_ns
    again = ShallowDANN(**params, checkpoint=path).fit(problem)
    assert path.stat().st_mtime_ns == written
    assert np.array_equal(again.W_, reference.W_)


def test_a_checkpoint_of_other_settings_is_refused(nuisance_problem, tmp_path):
    problem = nuisance_problem()
    path = tmp_path / "run.npz"
    ShallowDANN(epochs=2, random_state=0, checkpoint=path).fit(problem)
    with pytest.raises(InvalidParameterError, match="learning_rate"):
        ShallowDANN(epochs=2, random_state=0, learning_rate=0.5, checkpoint=path).fit(problem)
    path.write_text("not a checkpoint")
    with pytest.raises(InvalidParameterError, match="not a shallow DANN checkpoint"):
        ShallowDANN(epochs=2, random_state=0, checkpoint=path).fit(problem)


def test_progress_bar_counts_the_epochs(nuisance_problem):
    import io

    from transferkit.deep.progress import TqdmProgress

    stream = io.StringIO()
    ShallowDANN(
        epochs=3, patience=None, random_state=0, progress=TqdmProgress(file=stream, disable=False)
    ).fit(nuisance_problem())
    assert "3/3" in stream.getvalue()


def test_auto_learning_rate_scales_the_step_to_the_input(nuisance_problem):
    """μ = AUTO_STEP / mean ‖x‖²: on inputs ten times smaller the fixed step barely learns."""
    from transferkit.deep.shallow_dann import AUTO_STEP
    from transferkit.problem import TransferProblem

    base = nuisance_problem()
    small = TransferProblem(
        0.1 * base.X_source, base.y_source, 0.1 * base.X_target, y_target=base.y_target
    )
    rows = np.vstack([small.X_source, small.X_target])
    fixed, auto = [], []
    for seed in (0, 1, 2):
        model = ShallowDANN(epochs=5, random_state=seed).fit(small)
        fixed.append(np.mean(model.predict(small.X_target) == small.y_target))
        model = ShallowDANN(learning_rate="auto", epochs=5, random_state=seed).fit(small)
        auto.append(np.mean(model.predict(small.X_target) == small.y_target))
    assert model.learning_rate_ == pytest.approx(AUTO_STEP / np.mean(np.sum(rows**2, axis=1)))
    # seeds 0-2 on a 2-core x86 machine: auto 0.83-0.93, fixed 0.45-0.81 (the seed-0 figure
    # moves by a few rows from one CPU to another, hence three seeds and a margin)
    assert min(auto) > 0.8 and np.mean(auto) > 0.85
    assert np.mean(auto) > np.mean(fixed) + 0.15
    with pytest.raises(InvalidParameterError, match="'fast'"):
        ShallowDANN(learning_rate="fast").fit(small)


@pytest.mark.skipif(
    not (get_data_home() / "office_caltech10/images/webcam/mug/frame_0001.jpg").is_file(),
    reason="data home lacks the Office-Caltech images (set TRANSFERKIT_DATA)",
)
def test_images_are_refused_naming_what_it_needs():
    """The numpy network reads feature rows: given images it says so (it crashed on their
    missing ``shape`` with its defaults on the office-caltech-images suite)."""
    problem = load_pair("office-caltech-images", "webcam", "dslr", random_state=0)
    assert problem.is_images
    with pytest.raises(NotApplicableError, match="feature matrices.*images"):
        ShallowDANN(epochs=1).fit(problem)
