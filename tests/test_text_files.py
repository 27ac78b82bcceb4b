"""Reading users' CSV/TSV files of texts (no encoder needed)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from transferkit.datasets.files import load_file, load_text_file
from transferkit.exceptions import DataFormatError, DatasetNotFoundError


def test_quoted_texts_keep_their_separators_and_line_breaks(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_text(
        'review;stars\n"Good, cheap; works.";5\n\n"Two lines:\nstill one review";1\n',
        encoding="utf-8",
    )
    texts, labels = load_text_file(path, "review", "stars")
    assert texts == ["Good, cheap; works.", "Two lines:\nstill one review"]
    assert labels.dtype == np.int64 and labels.tolist() == [5, 1]


def test_a_target_without_the_label_column_is_unlabelled(tmp_path):
    path = tmp_path / "target.tsv"
    path.write_text("id\ttext\n1\tUn texto, con coma.\n2\tOtro texto.\n", encoding="utf-8")
    texts, labels = load_text_file(path, "text", "label")
    assert texts == ["Un texto, con coma.", "Otro texto."] and labels is None
    with pytest.raises(
        DataFormatError, match="no label column 'label'; its columns are 'id', 'text'"
    ):
        load_text_file(path, "text", "label", labels_required=True)


def test_line_numbers_count_blank_lines_and_multi_line_fields(tmp_path):
    path = tmp_path / "source.csv"
    path.write_text('text,label\n"a\nb",x\n\nfine,y\n ,x\n', encoding="utf-8")
    with pytest.raises(
        DataFormatError, match=re.escape("source.csv, line 6: the text (column 'text') is empty")
    ):
        load_text_file(path, "text")
    path.write_text("text,label\nfine,x\nno label,\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="line 3: the label \\(column 'label'\\) is empty"):
        load_text_file(path, "text")
    path.write_text("text,label\nfine,x\nan unquoted, comma,y\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="line 3: 3 fields but the header has 2 columns"):
        load_text_file(path, "text")


def test_only_csv_and_tsv_files_hold_texts(tmp_path):
    path = tmp_path / "features.npz"
    np.savez(path, X=np.ones((2, 2)))
    with pytest.raises(DataFormatError, match="texts are read from .csv or .tsv files.*'.npz'"):
        load_text_file(path, "text")
    with pytest.raises(DatasetNotFoundError, match="missing.tsv does not exist"):
        load_text_file(tmp_path / "missing.tsv", "text")


def test_numeric_tsv_files_read_as_features(tmp_path):
    path = tmp_path / "source.tsv"
    path.write_text("a\tb\tlabel\n1\t2\tcat\n3\t4\tdog\n", encoding="utf-8")
    X, y, names = load_file(path)
    assert X.tolist() == [[1.0, 2.0], [3.0, 4.0]] and y.tolist() == ["cat", "dog"]
    assert names == ["a", "b"]
