"""Datasets for transfer learning: generated problems, packaged data, the data home, users' files.

- Generated, no files: :func:`make_rotated_moons`, :func:`make_shifted_blobs`,
  :func:`make_synthetic_digits` (font-rendered digits), :func:`make_mnistm` (digits on photos).
- The catalog: :func:`list_datasets`, :func:`dataset_info`, :func:`standard_pairs`, and
  :func:`load_pair`, which builds a :class:`~transferkit.problem.TransferProblem` for any pair;
  :func:`load_task` loads the datasets of other kinds of benchmark task too (:func:`dataset_kind`).
- Packaged: :func:`load_uci_digits` (scikit-learn's optdigits), resized with :func:`resize_digits`.
- Real benchmarks from the data home: :func:`load_amazon_reviews`, :func:`load_office_caltech_surf`,
  :func:`load_office_caltech_images`, :func:`load_office_caltech_features`, :func:`load_mnist`,
  :func:`load_bible` (parallel English/Spanish verses, split with :func:`split_by_chapter`),
  :func:`load_fashion_mnist` (IDX files read by :func:`read_idx`; its shifted captures are made by
  :func:`shift_fashion_images`).
- Users' files (.npz, .csv, svmlight, .mat): :func:`load_file`, :func:`problem_from_files`; their
  folders of images, one sub-folder per class: :func:`load_image_folder`; how a row is named in
  a file of predictions: :func:`item_names`.
- The data home (``$TRANSFERKIT_DATA``, else ``~/.cache/transferkit``): :func:`get_data_home`,
  :func:`verify_file` (SHA-256 checked against the sums shipped with the package).

Examples
--------
>>> from transferkit.datasets import load_pair
>>> problem = load_pair("moons", "source", "rotated", random_state=0)
>>> problem.source_name, problem.target_name
('source', 'rotated')
"""

from transferkit.datasets._home import (
    FileCheck,
    check_file,
    get_data_home,
    listed_files,
    public_source,
    system_copy,
    verify_file,
)
from transferkit.datasets.amazon import load_amazon_reviews
from transferkit.datasets.bible import BibleVerses, load_bible, split_by_chapter
from transferkit.datasets.catalog import (
    DatasetInfo,
    dataset_info,
    dataset_kind,
    list_datasets,
    load_pair,
    load_task,
    standard_pairs,
)
from transferkit.datasets.digits import load_mnist, load_uci_digits
from transferkit.datasets.fashion import load_fashion_mnist, read_idx, shift_fashion_images
from transferkit.datasets.files import item_names, load_file, load_image_folder, problem_from_files
from transferkit.datasets.freedict import filter_pairs, load_freedict_pairs, split_by_source
from transferkit.datasets.generated import make_rotated_moons, make_shifted_blobs
from transferkit.datasets.images import resize_digits
from transferkit.datasets.label_spaces import open_set, partial_target
from transferkit.datasets.mnistm import make_mnistm
from transferkit.datasets.office import (
    load_office_caltech_features,
    load_office_caltech_images,
    load_office_caltech_surf,
)
from transferkit.datasets.synthetic import make_synthetic_digits
from transferkit.datasets.wordvectors import (
    WordVectors,
    encode_words_use,
    load_glove,
    load_spacy_vectors,
)

__all__ = [
    "BibleVerses",
    "DatasetInfo",
    "FileCheck",
    "WordVectors",
    "check_file",
    "dataset_info",
    "dataset_kind",
    "encode_words_use",
    "filter_pairs",
    "get_data_home",
    "item_names",
    "list_datasets",
    "listed_files",
    "load_amazon_reviews",
    "load_bible",
    "load_fashion_mnist",
    "load_file",
    "load_freedict_pairs",
    "load_glove",
    "load_image_folder",
    "load_mnist",
    "load_office_caltech_features",
    "load_office_caltech_images",
    "load_office_caltech_surf",
    "load_pair",
    "load_task",
    "load_spacy_vectors",
    "load_uci_digits",
    "make_mnistm",
    "make_rotated_moons",
    "make_shifted_blobs",
    "make_synthetic_digits",
    "open_set",
    "partial_target",
    "problem_from_files",
    "public_source",
    "read_idx",
    "resize_digits",
    "shift_fashion_images",
    "split_by_chapter",
    "split_by_source",
    "standard_pairs",
    "system_copy",
    "verify_file",
]
