"""FreeDict dictd parsing, the documented extraction rules, the split by source word, and errors.

Tests on the real files skip, naming them, when the data home (``TRANSFERKIT_DATA``) lacks them.
"""

from __future__ import annotations

import gzip
import shutil

import pytest

from transferkit.datasets import get_data_home
from transferkit.datasets.freedict import (
    decode_dictd_number,
    extract_word_pairs,
    filter_pairs,
    load_freedict,
    load_freedict_pairs,
    parse_entry,
    read_dictd,
    single_word,
    split_by_source,
)
from transferkit.exceptions import (
    ChecksumMismatchError,
    DataFormatError,
    DatasetNotFoundError,
    EmptyDomainError,
    InvalidParameterError,
)

FILES = [
    f"freedict/freedict-{name}.{ext}"
    for name in ("eng-fra", "fra-eng")
    for ext in ("index", "dict.dz")
]


def needs_freedict():
    home = get_data_home()
    missing = [name for name in FILES if not (home / name).is_file()]
    return pytest.mark.skipif(
        bool(missing), reason=f"data home {home} lacks {', '.join(missing)} (set TRANSFERKIT_DATA)"
    )


def encode(value: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    digits = ""
    while True:
        digits = alphabet[value % 64] + digits
        value //= 64
        if value == 0:
            return digits


def write_dictd(folder, entries: dict[str, str], compress: bool = True):
    """A small dictd dictionary: the .index and the (gzip) .dict of ``entries``."""
    body, lines = b"", []
    for headword, text in entries.items():
        data = text.encode("utf-8")
        lines.append(f"{headword}\t{encode(len(body))}\t{encode(len(data))}")
        body += data
    index = folder / "test.index"
    index.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dict_path = folder / ("test.dict.dz" if compress else "test.dict")
    if compress:
        with gzip.open(dict_path, "wb") as handle:
            handle.write(body)
    else:
        dict_path.write_bytes(body)
    return index, dict_path


def test_dictd_numbers_are_base64_digits_most_significant_first():
    assert decode_dictd_number("A") == 0
    assert decode_dictd_number("B") == 1
    assert decode_dictd_number("BA") == 64
    assert decode_dictd_number("c/") == 28 * 64 + 63
    with pytest.raises(DataFormatError, match="not a dictd base64 number"):
        decode_dictd_number("a=b")


def test_the_extraction_rules_on_written_entries():
    headword, translations = parse_entry(
        "aspirer /aspiʀe/ <v>\n1. aspire, aspire to, hope for\n2.  [cul] giblets (pl), ache\n"
    )
    assert headword == "aspirer"
    assert translations == ["aspire", "aspire to", "hope for", "giblets", "ache"]
    assert single_word("Réunir") == "réunir"  # lower-cased, accents kept
    for dropped in ("faire l'amour", "micro-onde", "make‐up", "... à", "mp3", "hope for", ""):
        assert single_word(dropped) is None
    entries = {
        "00databaseinfo": "00-database-info\nThis is a dictionary\n",
        "assemble": "assemble /əsembl/\n1. réunir\n2. monter, se réunir\n",
        "make love": "make love /meiklʌv/\n1. faire l'amour\n2. coïter\n",
        "asie": "Asie /azi/ <n>\nAsia\n",
    }
    assert extract_word_pairs(entries) == [
        ("asie", "asia"),
        ("assemble", "monter"),
        ("assemble", "réunir"),
    ]
    assert ("réunir", "assemble") in extract_word_pairs(entries, reverse=True)


def test_read_dictd_reads_compressed_and_plain_files(tmp_path):
    entries = {"chat": "chat /ʃa/ <n>\ncat\n", "chien": "chien /ʃjɛ̃/ <n>\ndog, hound\n"}
    assert read_dictd(*write_dictd(tmp_path, entries)) == entries
    plain = tmp_path / "plain"
    plain.mkdir()
    assert read_dictd(*write_dictd(plain, entries, compress=False)) == entries


def test_read_dictd_names_a_broken_index(tmp_path):
    index, dict_path = write_dictd(tmp_path, {"chat": "chat\ncat\n"})
    index.write_text("chat\tA\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="line 1: expected 'headword TAB offset TAB length'"):
        read_dictd(index, dict_path)
    index.write_text("chat\tA\tBA\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match="past the end"):
        read_dictd(index, dict_path)


def test_split_by_source_keeps_each_source_word_in_one_split():
    pairs = [(f"w{i}", f"t{i}{j}") for i in range(100) for j in range(i % 3 + 1)]
    train, test = split_by_source(pairs, test_size=20, random_state=3)
    train_sources, test_sources = {s for s, _ in train}, {s for s, _ in test}
    assert len(test_sources) == 20 and len(train_sources) == 80
    assert not train_sources & test_sources
    assert sorted(train + test) == sorted(pairs)
    assert split_by_source(pairs, 20, 3) == (train, test)  # seeded: reproducible
    assert split_by_source(pairs, 20, 4) != (train, test)
    assert len({s for s, _ in split_by_source(pairs, 0.25, 0)[1]}) == 25


def test_split_and_filter_refuse_bad_input():
    pairs = [("a", "x"), ("b", "y")]
    with pytest.raises(InvalidParameterError, match="leave at least one for training"):
        split_by_source(pairs, test_size=2)
    with pytest.raises(InvalidParameterError, match="test_size"):
        split_by_source(pairs, test_size="half")
    with pytest.raises(EmptyDomainError, match="at least 2 distinct source words"):
        split_by_source([("a", "x"), ("a", "y")], test_size=1)
    with pytest.raises(EmptyDomainError, match="None of the 2 dictionary pairs"):
        filter_pairs(pairs, ["c"], ["z"])
    with pytest.raises(EmptyDomainError, match="target vocabulary is empty"):
        filter_pairs(pairs, ["a"], [])
    assert filter_pairs(pairs + [("a", "q")], ["a"], ["x", "y"]) == [("a", "x")]
    with pytest.raises(InvalidParameterError, match="'eng-fra'"):
        load_freedict("english-french")


def test_a_missing_file_names_it_and_its_public_source(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_freedict("eng-fra", data_home=tmp_path)
    message = str(info.value)
    assert "freedict/freedict-eng-fra.index" in message and str(tmp_path) in message
    assert "dict-freedict-eng-fra" in message and "freedict.org" in message


@needs_freedict()
def test_a_corrupt_file_names_it_and_its_public_source(tmp_path):
    home = get_data_home()
    (tmp_path / "freedict").mkdir()
    shutil.copy(home / "SHA256SUMS", tmp_path / "SHA256SUMS")
    (tmp_path / "freedict" / "freedict-eng-fra.index").write_text("x\tA\tB\n", encoding="utf-8")
    with pytest.raises(ChecksumMismatchError) as info:
        load_freedict("eng-fra", data_home=tmp_path)
    assert "freedict-eng-fra.index" in str(info.value)
    assert "dict-freedict-eng-fra" in str(info.value)


@needs_freedict()
def test_real_dictionaries_give_the_documented_counts():
    eng_fra = load_freedict("eng-fra")
    fra_eng = load_freedict("fra-eng")
    # The indexes have 8,805 and 8,511 lines; a search key listed twice (homographs, e.g. a noun
    # and a verb) is one entry of the dict, its texts joined.
    assert len(eng_fra) == 8769 and len(fra_eng) == 8255
    forward = extract_word_pairs(eng_fra)
    backward = extract_word_pairs(fra_eng, reverse=True)
    pairs = load_freedict_pairs("eng", "fra")
    assert (len(forward), len(backward), len(pairs)) == (12205, 13001, 13348)
    assert pairs == sorted(set(forward) | set(backward))
    assert len({s for s, _ in pairs}) == 7639 and len({t for _, t in pairs}) == 6922
    assert ("aspirin", "aspirine") in pairs and ("asparagus", "asperge") in pairs
    assert all(s.isalpha() and s == s.lower() and t.isalpha() and t == t.lower() for s, t in pairs)
