"""``transferkit harden``: adversarial training of a user's own trained network.

MODEL is a network saved whole (``torch.save(model, path)``; ``--code`` names the file that
defines its class), TRAIN a labelled folder of images (one sub-folder per class) or a labelled
data file of rows in [0, 1], read as ``transferkit robustness`` reads its DATA: pixels in [0, 1],
standardised inside the network, so ``--eps`` is in pixel values. The network is fine-tuned on
adversarial examples made against it during training (:mod:`transferkit.robustness.losses`:
Madry et al.'s PGD training, TRADES, or the fast FGSM training of Wong et al.) through the
project's one training loop, and saved to ``--output``; MODEL is never changed. ``--test``
scores a labelled held-out set before and after, clean and under PGD at ``--eps``.

Examples
--------
transferkit harden net.pt digits/train --code net.py --image-size 28 --grey --eps 0.1 -o robust.pt
transferkit harden model.pt photos/train --eps 2/255 --defence trades --test photos/test -o robust.pt
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from transferkit.cli.networks import (
    finetune_options,
    network_options,
    read_network,
    training_seed_option,
)
from transferkit.cli.options import budgets_callback, device_option, norm_option, require_torch

#: Training objectives, by ``--defence`` name.
DEFENCES = ("pgd", "trades", "fast")


@click.command("harden")
@click.argument("model", type=click.Path())
@click.argument("train", type=click.Path())
@network_options
@click.option(
    "--eps",
    "budgets",
    callback=budgets_callback,
    required=True,
    help="The attack budget to resist, in pixel values in [0, 1] (a fraction such as 2/255 is "
    "allowed): commonly 0.1 to 0.3 for 28-pixel digits, 2/255 to 8/255 for photographs.",
)
@click.option(
    "--defence",
    type=click.Choice(DEFENCES),
    default="pgd",
    show_default=True,
    help="pgd: train on PGD examples (Madry et al. 2018); trades: clean loss plus the "
    "prediction's change under attack, weighed by --beta (Zhang et al. 2019); fast: one FGSM "
    "step from a random start (Wong et al. 2020), the cheapest.",
)
@norm_option
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=7,
    show_default=True,
    help="PGD steps of the training attack (pgd, trades); each costs a forward and backward pass.",
)
@click.option(
    "--beta",
    type=click.FloatRange(min=0),
    default=6.0,
    show_default=True,
    help="trades: weight of the robustness term.",
)
@click.option(
    "--epochs", type=click.IntRange(min=1), default=3, show_default=True, help="Passes over TRAIN."
)
@finetune_options
@click.option(
    "--warmup",
    type=click.FloatRange(min=0, max=1, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of training during which the budget grows from 0 to --eps.",
)
@click.option(
    "--test",
    type=click.Path(),
    default=None,
    help="A labelled held-out folder or file, scored before and after: clean, and under PGD "
    "(10 steps) at --eps.",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),
    required=True,
    help="Save the hardened network here (torch.save; MODEL is never changed).",
)
@device_option
@training_seed_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def harden_command(
    model: str,
    train: str,
    budgets: list[tuple[str, float]],
    defence: str,
    norm: str,
    steps: int,
    beta: float,
    epochs: int,
    learning_rate: float,
    warmup: float,
    batch_size: int,
    test: str | None,
    output: str,
    device: str,
    seed: int,
    as_json: bool,
    quiet: bool,
    **reading: Any,
) -> None:
    """Adversarial training of your trained network (MODEL) on labelled TRAIN, so that it
    resists attacks within --eps; saved to --output."""
    require_torch("Adversarial training")
    import torch

    from transferkit.deep.model_files import Normalized
    from transferkit.deep.progress import as_progress
    from transferkit.deep.training import apply_in_batches, eval_mode, resolve_device
    from transferkit.deep.training import train as train_modules
    from transferkit.exceptions import InvalidParameterError
    from transferkit.robustness import (
        FastAdversarialLoss,
        MadryLoss,
        TRADESLoss,
        adversarial_step,
        check_epsilon,
        check_images,
        check_trainable,
        robust_accuracy,
    )

    if len(budgets) != 1:
        raise InvalidParameterError(
            f"--eps takes one budget to train against; got {len(budgets)}. Score several "
            "afterwards with transferkit robustness."
        )
    text, eps = budgets[0]
    check_epsilon(eps, norm, name=f"--eps {text}")
    if eps <= 0:
        raise InvalidParameterError(f"--eps {text}: training against no attack is plain training.")
    where = resolve_device(device)  # a device that is not there stops the run before reading

    def labelled(path: str, first: Any = None) -> tuple[Any, Any, Any]:
        names, loaded = (None, None) if first is None else (first.classes, first.loaded)
        data = read_network(
            model, path, quiet=quiet, pixels=True, known_classes=names, loaded=loaded, **reading
        )
        if data.columns is None:
            raise InvalidParameterError(
                f"{path} has no labels: adversarial training and its scores need them (class "
                "sub-folders, or a label column)."
            )
        X = check_images(data.inputs.X, name=str(path))
        return data, X, torch.from_numpy(data.columns)

    read, X, y = labelled(train)  # TEST is then scored in TRAIN's columns
    network = read.network
    check_trainable(network)
    if test is not None:
        _, X_test, y_test = labelled(test, read)

    def scores() -> dict[str, float]:
        network.to(where)
        with eval_mode(network):
            clean = apply_in_batches(network, X_test, where, batch_size).argmax(1) == y_test
        robust = robust_accuracy(
            network, X_test, y_test, attack="pgd", eps=eps, norm=norm, steps=10,
            batch_size=batch_size, device=where, random_state=seed,
            progress=as_progress(not quiet, f"pgd eps {text}"),
        )  # fmt: skip
        return {"clean": float(clean.float().mean()), "pgd": float(robust)}

    before = scores() if test is not None else None
    loss = {
        "pgd": lambda: MadryLoss(eps, norm, steps),
        "trades": lambda: TRADESLoss(eps, beta, norm, steps),
        "fast": lambda: FastAdversarialLoss(eps, norm),
    }[defence]()
    started = time.perf_counter()
    history = train_modules(
        {"model": network},
        adversarial_step(network, loss, epsilon_warmup=warmup),
        torch.optim.Adam(network.parameters(), lr=learning_rate),
        X,
        y,
        epochs=epochs,
        batch_size=batch_size,
        patience=None,
        device=where,
        random_state=seed,
        progress=as_progress(not quiet, f"{defence} training"),
    )
    seconds = time.perf_counter() - started
    network.eval()
    after = scores() if test is not None else None
    inner = network.network if isinstance(network, Normalized) else network
    torch.save(inner.cpu(), output)
    report = {
        "model": model,
        "train": train,
        "rows": len(X),
        "images": read.folder,
        "defence": defence,
        "eps": text,
        "eps_value": eps,
        "norm": norm,
        "steps": 1 if defence == "fast" else steps,
        "epochs": history.n_epochs,
        "losses": [round(epoch["loss"], 4) for epoch in history.epochs],
        "seconds": seconds,
        "test": test,
        "before": before,
        "after": after,
        "output": output,
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    attack = f"{steps}-step PGD" if defence != "fast" else "FGSM from a random start"
    click.echo(
        f"{defence} training against {attack} at eps {text} ({norm}) on {len(X)} "
        f"{'images' if read.folder else 'rows'} of {train}: {history.n_epochs} "
        f"epoch{'s' if history.n_epochs > 1 else ''}, "
        f"{seconds:.0f} s; loss by epoch {', '.join(f'{v:.3f}' for v in report['losses'])}"
    )
    if before is not None and after is not None:
        click.echo(f"{'':<26}{'model':>9}{'hardened':>10}   ({test})")
        click.echo(
            f"{'clean accuracy':<26}{100 * before['clean']:7.1f} %{100 * after['clean']:8.1f} %"
        )
        click.echo(
            f"{f'PGD-10 at eps {text}':<26}{100 * before['pgd']:7.1f} %{100 * after['pgd']:8.1f} %"
        )
    click.echo(f"hardened network: {output} (score it: transferkit robustness {output} DATA)")
