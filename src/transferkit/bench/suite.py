"""Benchmark suites: which datasets and pairs, which methods with which parameters, which seeds.

A suite is a small TOML file (format in ``docs/suites.md``), parsed with the standard library's
``tomllib`` and validated up front, so a typo fails at once with a :class:`SuiteError` naming the
file, the key and the fix, not an hour into a run. Built-in suites ship in ``transferkit/suites``;
:func:`load_suite` takes a built-in name or a path to a user's file.

Examples
--------
>>> from transferkit.bench import load_suite
>>> suite = load_suite("demo")
>>> suite.name
'demo'
"""

from __future__ import annotations

import difflib
import hashlib
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from transferkit.exceptions import (
    DatasetNotFoundError,
    InvalidParameterError,
    ParameterValueError,
    SuiteError,
    TransferKitError,
)

#: Dataset name of a user's own pair of files (``transferkit bench SUITE --source ... --target``).
FILES_DATASET = "files"

_SUITE_KEYS = {
    "name": "the suite's name (as stored in the results database)",
    "description": "one line on what the suite measures",
    "seeds": "list of non-negative integers, e.g. [0, 1, 2]",
    "classifier": 'a classifier name ("1nn", "logreg", ...) or {name = "logreg", C = 1.0}',
    "protocol": "a sentence on the evaluation protocol, shown with the table",
    "published": "published numbers: {label = mean} or {label = {mean = 27.7, 'a:b' = 30.1}}",
    "methods": '"all": every registered non-deep method with default parameters',
    "exclude": 'method names to leave out of methods = "all"',
}
_DATASET_KEYS = {
    "name": "a dataset name (see `transferkit datasets`)",
    "label": "display name in tables (default: the name)",
    "pairs": '"standard" or a list of [source, target] domain pairs',
    "options": "a table of options passed to transferkit.datasets.load_pair",
    "pca": "project every domain onto N principal components of the unlabelled source + target",
    "target_labels": "reveal N target labels per class (drawn with the seed; scored on the rest)",
}
#: Key under which a dataset entry's ``pca`` travels in the stored options (the runner removes it
#: before calling ``load_pair``).
PCA_OPTION = "pca"
#: Likewise for ``target_labels`` (semi-supervised suites: labels per class made visible).
TARGET_LABELS_OPTION = "target_labels"
#: The files option that reads a user's source and target as different feature spaces.
FEATURE_SPACES_OPTION = "feature_spaces"
#: Option of a user's files naming their text column: the files are CSV/TSV of texts.
TEXT_COLUMN_OPTION = "text_column"
#: Option of a user's folders of images naming the pre-trained CNN whose features describe them.
BACKBONE_OPTION = "backbone"
#: The backbone of folders of images when none is named.
DEFAULT_BACKBONE = "mobilenet_v2"
#: The backbone option that gives the methods the images themselves (finetune, backbone_head...).
NO_BACKBONE = "none"
_METHOD_KEYS = {
    "name": "a registered method name (see transferkit.registry.available_methods)",
    "label": "the column name in tables (default: the name); unique within the suite",
    "params": "a table of the method's parameters",
    "pair_params": 'parameters for some pairs only, over params: {"source:target" = {...}}',
    "classifier": "overrides the suite's classifier for this method",
}


def canonical_json(value: Any) -> str:
    """The JSON text used to compare parameters, options and classifiers (sorted keys)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class DatasetEntry:
    """One dataset of a suite, with its resolved list of (source, target) pairs."""

    name: str
    label: str
    pairs: tuple[tuple[str, str], ...]
    options: Mapping[str, Any] = field(default_factory=dict)
    pca: int | None = None
    target_labels: int | None = None

    @property
    def options_key(self) -> str:
        """The options as stored in the database (with ``pca`` and ``target_labels`` when the
        entry sets them)."""
        options = dict(self.options)
        if self.pca is not None:
            options[PCA_OPTION] = self.pca
        if self.target_labels is not None:
            options[TARGET_LABELS_OPTION] = self.target_labels
        return canonical_json(options)


@dataclass(frozen=True)
class MethodEntry:
    """One method column of a suite: a registered method, its parameters and its classifier."""

    name: str
    label: str
    params: Mapping[str, Any] = field(default_factory=dict)
    classifier: Any = "logreg"
    #: Parameters that replace or add to ``params`` on some (source, target) pairs, as a paper
    #: tunes a strength per setting.
    pair_params: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)

    def params_for(self, source: str, target: str) -> dict[str, Any]:
        """The parameters the method runs with on the pair ``source`` → ``target``."""
        return {**self.params, **self.pair_params.get((source, target), {})}

    @property
    def classifier_key(self) -> str:
        return canonical_json(self.classifier)


@dataclass(frozen=True)
class Published:
    """Published numbers for one method label: the mean over pairs and/or per pair (in %)."""

    mean: float | None = None
    pairs: Mapping[tuple[str, str], float] = field(default_factory=dict)


@dataclass(frozen=True)
class Cell:
    """One unit of work and one row of the results database."""

    suite: str
    dataset: str
    dataset_label: str
    options: str
    source: str
    target: str
    method: str
    method_name: str
    params: str
    classifier: str
    seed: int

    @property
    def key(self) -> tuple[Any, ...]:
        """The cell's identity, the database's UNIQUE key."""
        return (
            self.suite,
            self.dataset,
            self.options,
            self.source,
            self.target,
            self.method,
            self.method_name,
            self.params,
            self.classifier,
            self.seed,
        )

    @property
    def problem_key(self) -> tuple[str, str, str, int, str]:
        """What identifies the loaded problem (so it is loaded once per worker)."""
        return (self.dataset, self.source, self.target, self.seed, self.options)

    def describe(self) -> str:
        return f"{self.dataset_label} {self.source}->{self.target} {self.method} seed={self.seed}"


def file_names(paths: Sequence[str | Path]) -> list[str]:
    """The names of a files entry's paths: their stems, or their full paths when two stems are
    equal (``a/data.npz`` and ``b/data.npz``)."""
    stems = [Path(path).stem for path in paths]
    return stems if len(set(stems)) == len(stems) else [str(path) for path in paths]


def as_list(value: Any) -> list[Any]:
    """A files option that may hold one path (or digest) or a list of them, as a list."""
    return list(value) if isinstance(value, list | tuple) else [value]


def check_sources(
    sources: Sequence[str | Path], *, text: bool = False, feature_spaces: str = "same"
) -> list[Path]:
    """The sources' resolved paths, after the checks every reader of several sources shares:
    at least one, none given twice, and several only in one feature space (no texts, no
    ``feature_spaces="different"``). Raises :class:`SuiteError` saying which."""
    if not sources:
        raise SuiteError("Give at least one source file or folder.")
    if len(sources) > 1 and (text or feature_spaces != "same"):
        raise SuiteError(
            "Several sources are combined in one feature space (multi-source transfer): give "
            "files of features or folders of images, without text options or "
            "feature_spaces='different'."
        )
    paths = [Path(path).resolve() for path in sources]
    if len(set(paths)) != len(paths):
        raise SuiteError("A source is given twice; give each source once.")
    return paths


def _files_protocol(options: Mapping[str, Any]) -> str:
    """What a run on a user's files reads (the options of its files entry), for the table in
    place of the suite's own protocol (which describes its built-in data)."""
    kind = "folder" if BACKBONE_OPTION in options else "file"
    scored = (
        f"scored on the labelled test {kind} {options['test']}"
        if "test" in options
        else "scored on the target's labels where it has them"
    )
    sources = as_list(options["source"])
    words = (
        f"your files: labelled source {sources[0]}"
        if len(sources) == 1
        else f"your files: {len(sources)} labelled sources {', '.join(sources)} (multi-source)"
    ) + f", target {options['target']} (unlabelled for adaptation; {scored})"
    if options.get(BACKBONE_OPTION) == NO_BACKBONE:
        words += "; folders of images (a sub-folder per class), the images given to the methods"
    elif BACKBONE_OPTION in options:
        words += (
            "; folders of images (a sub-folder per class), described by the pooled penultimate "
            f"layer of the ImageNet-pre-trained {options[BACKBONE_OPTION]}"
        )
    if TEXT_COLUMN_OPTION in options:
        words += f"; texts of the column {options[TEXT_COLUMN_OPTION]!r}, encoded" + (
            f" with {options['encoder']!r}" if "encoder" in options else ""
        )
        if "language" in options:
            words += f" (language {options['language']})"
        if "parallel" in options:
            words += f", translation pairs from {options['parallel']}"
    if options.get(FEATURE_SPACES_OPTION) == "different":
        words += "; source and target described by different features"
    if TARGET_LABELS_OPTION in options:
        words += (
            f"; {options[TARGET_LABELS_OPTION]} target labels per class visible to the methods "
            "(drawn with each seed, not scored)"
        )
    return words + "; the suite's methods and seeds"


@dataclass(frozen=True)
class Suite:
    """A validated benchmark suite. Build it with :func:`load_suite` or :func:`parse_suite`."""

    name: str
    description: str
    seeds: tuple[int, ...]
    classifier: Any
    protocol: str
    published: Mapping[str, Published]
    datasets: tuple[DatasetEntry, ...]
    methods: tuple[MethodEntry, ...]
    path: str | None = None

    # ----------------------------------------------------------------- the work
    def cells(self) -> list[Cell]:
        """Every cell, ordered so that cells sharing a problem are adjacent."""
        cells = []
        for dataset in self.datasets:
            for source, target in dataset.pairs:
                for seed in self.seeds:
                    for method in self.methods:
                        cells.append(
                            Cell(
                                suite=self.name,
                                dataset=dataset.name,
                                dataset_label=dataset.label,
                                options=dataset.options_key,
                                source=source,
                                target=target,
                                method=method.label,
                                method_name=method.name,
                                params=canonical_json(method.params_for(source, target)),
                                classifier=method.classifier_key,
                                seed=seed,
                            )
                        )
        return cells

    @property
    def pairs(self) -> list[tuple[str, str, str]]:
        """(dataset label, source, target) of every row of the table, in order."""
        return [(d.label, s, t) for d in self.datasets for s, t in d.pairs]

    # ----------------------------------------------------------------- narrowing
    def select(
        self,
        methods: Sequence[str] | None = None,
        pairs: Sequence[tuple[str, str] | str] | None = None,
        seeds: Sequence[int] | None = None,
    ) -> Suite:
        """A copy restricted to some methods (labels, or registered names added with defaults),
        some ``(source, target)`` pairs (or ``"source:target"`` strings) and some seeds."""
        suite = self
        if methods is not None:
            suite = replace(suite, methods=tuple(self._select_methods(methods)))
        if pairs is not None:
            suite = replace(suite, datasets=tuple(self._select_pairs(pairs)))
        if seeds is not None:
            suite = replace(suite, seeds=_check_seeds(list(seeds), self._where("--seeds")))
        return suite

    def check_runs_on_files(self) -> None:
        """Raise :class:`SuiteError` when the suite, run on a user's files (which give a
        transfer problem), has no transfer method: a continual, multi-task, robustness, few- or
        zero-shot suite would only store one error row per cell."""
        from transferkit.registry import method_spec

        families = {method_spec(m.name).family for m in self.methods}
        if families and families <= set(OTHER_TASK_FAMILIES):
            kinds = sorted(families)
            own = [
                f"`transferkit {kind}` reads your data for {kind} learning"
                if kind in ("fewshot", "zeroshot")
                else f"docs/guides/{kind}.md builds a {kind} task of your data from Python"
                for kind in kinds
            ]
            raise SuiteError(
                f"Suite '{self.name}' runs {' and '.join(kinds)} methods, which need a "
                "benchmark task of their kind; --source/--target files give a transfer problem. "
                "Run a transfer suite on your files (`transferkit bench demo --source ... "
                f"--target ...`, or a suite file of your own); {'; '.join(own)}."
            )

    def _where(self, what: str) -> str:
        return f"{what} (suite '{self.name}')"

    def _select_methods(self, names: Sequence[str]) -> list[MethodEntry]:
        by_label = {m.label: m for m in self.methods}
        chosen: list[MethodEntry] = []
        for name in names:
            name = name.strip()
            if name in by_label:
                entry = by_label[name]
            else:
                from transferkit.registry import available_methods, is_registered

                if not is_registered(name):
                    known = sorted(set(by_label) | set(available_methods()))
                    raise SuiteError(
                        f"--methods: '{name}' is neither a method of suite '{self.name}' nor a "
                        f"registered method{_did_you_mean(name, known)}. Suite methods: "
                        f"{', '.join(by_label)}."
                    )
                entry = MethodEntry(name, name, {}, self.classifier)
            if entry not in chosen:
                chosen.append(entry)
        if not chosen:
            raise SuiteError(f"--methods selects no method of suite '{self.name}'.")
        return chosen

    def _select_pairs(self, pairs: Sequence[tuple[str, str] | str]) -> list[DatasetEntry]:
        wanted = []
        for pair in pairs:
            if isinstance(pair, str):
                source, sep, target = pair.strip().partition(":")
                if not sep or not source or not target:
                    raise SuiteError(
                        f"--pairs: '{pair}' is not of the form source:target (e.g. amazon:webcam)."
                    )
                pair = (source.strip(), target.strip())
            wanted.append(tuple(pair))
        available = {p for d in self.datasets for p in d.pairs}
        unknown = [p for p in wanted if p not in available]
        if unknown:
            known = ", ".join(f"{s}:{t}" for s, t in sorted(available))
            raise SuiteError(
                f"--pairs: {', '.join(f'{s}:{t}' for s, t in unknown)} not in suite "
                f"'{self.name}'. Its pairs: {known}."
            )
        datasets = []
        for dataset in self.datasets:
            kept = tuple(p for p in dataset.pairs if p in wanted)
            if kept:
                datasets.append(replace(dataset, pairs=kept))
        return datasets

    def with_files(
        self,
        source: str | Path | Sequence[str | Path],
        target: str | Path,
        test: str | Path | None = None,
        digests: FileDigests | None = None,
        text: Mapping[str, str] | None = None,
        feature_spaces: str = "same",
        reveal: int = 0,
        backbone: str | None = None,
    ) -> Suite:
        """The suite's methods and seeds on a user's own pair of files (dataset ``"files"``).

        The cells are keyed on the files' contents as well as their paths: the options hold each
        file's SHA-256 (``source_sha256``...), so a file changed in place gives new cells instead
        of the numbers stored for its old bytes, as the built-in data are checksummed. The pair
        is named by the file stems (the full paths when the stems are equal); tables tell apart
        stored pairs with equal names by their hashes. ``digests`` caches the hashes (one
        per run, see :class:`FileDigests`); None hashes afresh. ``text`` (``text_column``,
        ``label_column``, ``encoder``, and optionally ``language`` ("en:es", checked against the
        encoder), ``parallel`` and ``parallel_columns``: a
        file of translation pairs and its two columns, hashed like the others) marks CSV/TSV
        files of texts, encoded when a cell loads them
        (:func:`transferkit.text.problem_from_text_files`); it is part of the cells' key.
        ``feature_spaces="different"`` reads files of features as heterogeneous, and ``reveal``
        makes that many target labels per class visible (drawn with each cell's seed); both are
        part of the key too (and absent from it at their defaults).

        Several sources (a sequence of two or more paths) make a multi-source problem
        (:func:`transferkit.multisource.combine_sources`): the option ``source`` and its
        ``source_sha256`` are then lists, and the pair is named by the sources' names joined by
        ``+``, as the built-in multi-source pairs are.

        Folders in place of files are folders of images (one sub-folder per class,
        :func:`~transferkit.datasets.load_image_folder`), described by the features of
        ``backbone`` (default :data:`DEFAULT_BACKBONE`; :data:`NO_BACKBONE`: the images
        themselves, for the methods that train on images; part of the key) and keyed on every
        image's bytes and path within its folder.
        """
        from transferkit.problem import FEATURE_SPACES

        if feature_spaces not in FEATURE_SPACES:
            raise SuiteError(
                f"feature_spaces must be one of {', '.join(FEATURE_SPACES)}; got "
                f"{feature_spaces!r}."
            )
        if isinstance(reveal, bool) or not isinstance(reveal, int) or reveal < 0:
            raise SuiteError(f"reveal must be an integer >= 0; got {reveal!r}.")
        if text and feature_spaces != "same":
            raise SuiteError(
                "Files of texts are encoded into one feature space: feature_spaces='different' "
                "applies to files of features."
            )
        digests = FileDigests() if digests is None else digests
        sources = [source] if isinstance(source, str | Path) else list(source)
        source_paths = check_sources(sources, text=bool(text), feature_spaces=feature_spaces)
        paths = {f"source{i}": path for i, path in enumerate(source_paths)}
        paths["target"] = Path(target).resolve()
        if test is not None:
            paths["test"] = Path(test).resolve()
        folders = [role for role, path in paths.items() if path.is_dir()]
        if folders and len(folders) != len(paths):
            shown = {
                role: role.rstrip("0123456789") if len(source_paths) == 1 else role
                for role in paths
            }
            raise SuiteError(
                "Give files, or folders of images, for every one of source, target and test: "
                + ", ".join(f"{shown[r]} {path}" for r, path in paths.items() if r in folders)
                + " (folders) beside "
                + ", ".join(f"{shown[r]} {path}" for r, path in paths.items() if r not in folders)
                + " (files)."
            )
        if folders and (text or feature_spaces != "same"):
            raise SuiteError(
                "Folders of images are described by one backbone's features: text options and "
                "feature_spaces='different' apply to files."
            )
        if backbone is not None and not folders:
            raise SuiteError(
                f"backbone={backbone!r} describes folders of images; the source and target "
                "given are files."
            )
        options: dict[str, Any] = {}
        for role, path in paths.items():
            options[role] = str(path)
            options[f"{role}_sha256"] = digests.sha256(path)
        # one source keeps the plain keys; several are lists, in the order given
        roles = [f"source{i}" for i in range(len(source_paths))]
        hashes = [options.pop(f"{role}_sha256") for role in roles]
        named = [options.pop(role) for role in roles]
        options = {
            "source": named[0] if len(named) == 1 else named,
            "source_sha256": hashes[0] if len(hashes) == 1 else hashes,
            **options,
        }
        if text:
            if test is not None:
                raise SuiteError(
                    "A test file is not read as texts: give --source and --target CSV/TSV files "
                    "of texts (the target's labels, if present, score the methods)."
                )
            options.update({key: str(value) for key, value in text.items()})
            if "parallel" in text:  # keyed on its bytes too
                options["parallel"] = str(Path(text["parallel"]).resolve())
                options["parallel_sha256"] = digests.sha256(options["parallel"])
        if folders:
            options[BACKBONE_OPTION] = backbone or DEFAULT_BACKBONE
        if feature_spaces != "same":
            options[FEATURE_SPACES_OPTION] = feature_spaces
        if reveal:
            options[TARGET_LABELS_OPTION] = reveal
        *source_names, target_name = file_names([*source_paths, paths["target"]])
        source_name = "+".join(source_names)
        entry = DatasetEntry(FILES_DATASET, FILES_DATASET, ((source_name, target_name),), options)
        return replace(
            self,
            datasets=(entry,),
            published={},
            protocol=_files_protocol(options),
        )


class FileDigests:
    """SHA-256 of files' bytes, each file read once per (path, size, modification time).

    A run keeps one, so a large file named several times (as target and test) is hashed once;
    a file rewritten in place gets a new size or time and is hashed again. The cache lives as long
    as the object, never across runs: two rewrites within one clock tick that keep the size would
    otherwise look unchanged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "x.csv"
    >>> _ = path.write_text("a,b\\n1,2\\n")
    >>> FileDigests().sha256(path)[:12]
    '492d5ea49605'
    """

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int], str] = {}

    def sha256(self, path: str | Path) -> str:
        """The hex SHA-256 of ``path``'s bytes; of a folder of images, the SHA-256 of each
        image's path within it and digest, in the order
        :func:`~transferkit.datasets.load_image_folder` reads them (renaming, adding or
        changing an image changes it)."""
        path = Path(path)
        if path.is_dir():
            from transferkit.datasets.files import load_image_folder

            images, _ = load_image_folder(path)
            digest = hashlib.sha256()
            for image in images.paths:
                digest.update(f"{image.relative_to(path).as_posix()}\0".encode())
                digest.update(bytes.fromhex(self.sha256(image)))
            return digest.hexdigest()
        try:
            stat = path.stat()
            key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
            if key not in self._known:
                digest = hashlib.sha256()
                with path.open("rb") as stream:
                    for block in iter(lambda: stream.read(1 << 20), b""):
                        digest.update(block)
                self._known[key] = digest.hexdigest()
        except OSError as error:
            raise DatasetNotFoundError(
                f"Cannot read data file {path} ({error.strerror or error}); give the path of an "
                "existing, readable file with --source/--target/--test."
            ) from error
        return self._known[key]


# --------------------------------------------------------------------- loading
def builtin_suites() -> list[str]:
    """Names of the suites shipped with transferkit."""
    folder = resources.files("transferkit").joinpath("suites")
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_suite(name_or_path: str | Path | Suite) -> Suite:
    """A validated suite from a built-in name (``"demo"``, ``"office-caltech-surf"``...) or a
    path to a TOML file. A :class:`Suite` is passed through.

    Raises :class:`SuiteError` naming the file, the key and the fix when anything is wrong.
    """
    if isinstance(name_or_path, Suite):
        return name_or_path
    text_name = str(name_or_path)
    path = Path(text_name).expanduser()
    if path.is_file():
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise SuiteError(f"Cannot read suite file {path}: {error}") from error
        return parse_suite(text, source=str(path))
    if text_name in builtin_suites():
        resource = resources.files("transferkit").joinpath("suites", f"{text_name}.toml")
        return parse_suite(resource.read_text("utf-8"), source=f"built-in suite '{text_name}'")
    if text_name.endswith(".toml") or "/" in text_name or path.suffix:
        raise SuiteError(
            f"Suite file {path} does not exist. Give a path to a TOML suite file, or a built-in "
            f"suite: {', '.join(builtin_suites())}."
        )
    raise SuiteError(
        f"Unknown suite '{text_name}'{_did_you_mean(text_name, builtin_suites())}. Built-in "
        f"suites: {', '.join(builtin_suites())}; or give a path to a TOML suite file."
    )


def parse_suite(text: str, source: str = "<string>") -> Suite:
    """Parse and validate suite TOML ``text``; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SuiteError(f"{source}: not valid TOML: {error}.") from error
    return _Validator(source).suite(data)


class _Validator:
    def __init__(self, source: str):
        self.source = source

    def error(self, key: str, message: str) -> SuiteError:
        return SuiteError(f"{self.source}: {key}: {message}")

    def check_keys(self, table: Mapping[str, Any], allowed: Mapping[str, str], where: str) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(
                    f"{where}.{key}",
                    f"unknown key{_did_you_mean(key, allowed)}. Allowed in {where}: "
                    f"{', '.join(allowed)}. Remove it or fix its spelling.",
                )

    def string(self, value: Any, key: str, required: bool = False, default: str = "") -> str:
        if value is None:
            if required:
                raise self.error(key, "missing; add it.")
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, got {value!r}.")
        return value.strip()

    def table(self, value: Any, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table ({{key = value}}), got {value!r}.")
        try:
            canonical_json(value)
        except (TypeError, ValueError) as error:
            raise self.error(
                key, f"holds a value that is not a plain number/string/list: {error}"
            ) from error
        return dict(value)

    def suite(self, data: dict[str, Any]) -> Suite:
        self.check_keys(data, {"suite": "", "datasets": "", "methods": ""}, "top level")
        head = data.get("suite")
        if not isinstance(head, dict):
            raise self.error("[suite]", "missing; start the file with a [suite] table.")
        self.check_keys(head, _SUITE_KEYS, "[suite]")
        name = self.string(head.get("name"), "[suite].name", required=True)
        seeds = _check_seeds(head.get("seeds", [0]), f"{self.source}: [suite].seeds")
        classifier = self.classifier(head.get("classifier", "logreg"), "[suite].classifier")
        datasets = self.datasets(data.get("datasets"))
        methods = self.methods(data.get("methods", []), head, classifier, datasets)
        published = self.published(head.get("published"))
        return Suite(
            name=name,
            description=self.string(head.get("description"), "[suite].description"),
            seeds=seeds,
            classifier=classifier,
            protocol=self.string(head.get("protocol"), "[suite].protocol"),
            published=published,
            datasets=datasets,
            methods=methods,
            path=self.source,
        )

    def classifier(self, value: Any, key: str) -> Any:
        from transferkit.registry import CLASSIFIER_NAMES, make_classifier

        if isinstance(value, dict):
            value = self.table(value, key)
            if "name" not in value:
                raise self.error(key, f"a classifier table needs name = one of {CLASSIFIER_NAMES}.")
        elif not isinstance(value, str):
            raise self.error(key, f"must be a classifier name or table, got {value!r}.")
        try:
            make_classifier(value, 0)
        except (InvalidParameterError, TypeError) as error:
            raise self.error(
                key, f"{error} Known classifiers: {', '.join(CLASSIFIER_NAMES)}."
            ) from error
        return value

    def datasets(self, value: Any) -> tuple[DatasetEntry, ...]:
        if not isinstance(value, list) or not value:
            raise self.error(
                "[[datasets]]", 'missing; add at least one [[datasets]] table with name = "...".'
            )
        entries: list[DatasetEntry] = []
        for index, item in enumerate(value):
            where = f"datasets[{index}]"
            if not isinstance(item, dict):
                raise self.error(where, "must be a table ([[datasets]]).")
            self.check_keys(item, _DATASET_KEYS, where)
            name = self.string(item.get("name"), f"{where}.name", required=True)
            label = self.string(item.get("label"), f"{where}.label", default=name)
            options = self.table(item.get("options"), f"{where}.options")
            counts = {}
            for key in (PCA_OPTION, TARGET_LABELS_OPTION):
                if key in options:
                    raise self.error(
                        f"{where}.options.{key}",
                        f"give {key} = N in the [[datasets]] table itself, not among the "
                        "dataset's options.",
                    )
                count = item.get(key)
                if count is not None and (
                    isinstance(count, bool) or not isinstance(count, int) or count < 1
                ):
                    raise self.error(f"{where}.{key}", f"must be an integer >= 1, got {count!r}.")
                counts[key] = count
            pairs = self.pairs(name, item.get("pairs", "standard"), f"{where}.pairs")
            entry = DatasetEntry(
                name, label, pairs, options, counts[PCA_OPTION], counts[TARGET_LABELS_OPTION]
            )
            for other in entries:
                if other.label == label:
                    raise self.error(
                        f"{where}.label",
                        f"'{label}' is used by two datasets; give each a distinct label.",
                    )
            entries.append(entry)
        return tuple(entries)

    def pairs(self, dataset: str, value: Any, key: str) -> tuple[tuple[str, str], ...]:
        from transferkit import datasets as datasets_module

        try:
            info = datasets_module.dataset_info(dataset)
        except TransferKitError as error:
            known = [d.name for d in datasets_module.list_datasets()]
            raise self.error(
                key.rsplit(".", 1)[0] + ".name",
                f"unknown dataset '{dataset}'{_did_you_mean(dataset, known)}. Known datasets: "
                f"{', '.join(known)} ({error}).",
            ) from error
        if value == "standard":
            return tuple(tuple(p) for p in datasets_module.standard_pairs(dataset))
        if not isinstance(value, list) or not value:
            raise self.error(
                key, f'must be "standard" or a list of [source, target], got {value!r}.'
            )
        pairs: list[tuple[str, str]] = []
        domains = list(info.domains)
        for pair in value:
            if (
                not isinstance(pair, list)
                or len(pair) != 2
                or not all(isinstance(d, str) for d in pair)
            ):
                raise self.error(key, f"each pair must be [source, target], got {pair!r}.")
            # a multi-source pair joins its sources with "+" ("amazon+dslr+webcam")
            for domain in (part for side in pair for part in side.split("+")):
                if domain not in domains:
                    raise self.error(
                        key,
                        f"'{domain}' is not a domain of dataset '{dataset}'"
                        f"{_did_you_mean(domain, domains)}. Its domains: {', '.join(domains)}.",
                    )
            if tuple(pair) in pairs:
                raise self.error(key, f"pair {pair!r} is listed twice; remove one.")
            pairs.append((pair[0], pair[1]))
        return tuple(pairs)

    def methods(
        self,
        value: Any,
        head: Mapping[str, Any],
        classifier: Any,
        datasets: Sequence[DatasetEntry],
    ) -> tuple[MethodEntry, ...]:
        from transferkit.registry import available_methods, is_registered

        # shallow names are checked without importing torch; a name not found there imports the
        # deep families, and so does an error message that lists every method
        registered = available_methods(include_deep=False)
        if not isinstance(value, list):
            raise self.error("[[methods]]", "must be an array of tables ([[methods]]).")
        explicit: list[MethodEntry] = []
        for index, item in enumerate(value):
            where = f"methods[{index}]"
            if not isinstance(item, dict):
                raise self.error(where, "must be a table ([[methods]]).")
            self.check_keys(item, _METHOD_KEYS, where)
            name = self.string(item.get("name"), f"{where}.name", required=True)
            if not is_registered(name):
                every = available_methods()
                raise self.error(
                    f"{where}.name",
                    f"unknown method '{name}'{_did_you_mean(name, every)}. Registered "
                    f"methods: {', '.join(every)}.",
                )
            entry = MethodEntry(
                name=name,
                label=self.string(item.get("label"), f"{where}.label", default=name),
                params=self.table(item.get("params"), f"{where}.params"),
                classifier=(
                    self.classifier(item["classifier"], f"{where}.classifier")
                    if "classifier" in item
                    else classifier
                ),
                pair_params=self.pair_params(item.get("pair_params"), where, datasets),
            )
            self.check_builds(entry, f"{where}.params")
            for source, target in entry.pair_params:
                self.check_builds(
                    replace(entry, params=entry.params_for(source, target), pair_params={}),
                    f'{where}.pair_params."{source}:{target}"',
                )
            if any(other.label == entry.label for other in explicit):
                raise self.error(
                    f"{where}.label",
                    f"'{entry.label}' names two methods; give each a distinct label "
                    '(e.g. label = "CORAL (λ=10)").',
                )
            explicit.append(entry)

        mode = head.get("methods")
        exclude = head.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
            raise self.error("[suite].exclude", f"must be a list of method names, got {exclude!r}.")
        for name in exclude:
            if not is_registered(name):
                raise self.error(
                    "[suite].exclude",
                    f"unknown method '{name}'{_did_you_mean(name, available_methods())}.",
                )
        if mode is None:
            if exclude:
                raise self.error("[suite].exclude", 'only makes sense with methods = "all".')
            entries = explicit
        elif mode == "all":
            entries = _all_methods(registered, classifier, exclude, explicit)
        else:
            raise self.error(
                "[suite].methods",
                f'must be "all" (or absent, to list methods as [[methods]]), got {mode!r}.',
            )
        if not entries:
            raise self.error(
                "[[methods]]", 'no methods; add [[methods]] tables or methods = "all" in [suite].'
            )
        return tuple(entries)

    def pair_params(
        self, value: Any, where: str, datasets: Sequence[DatasetEntry]
    ) -> dict[tuple[str, str], dict[str, Any]]:
        """A method's ``pair_params``: ``{"source:target" = {parameters}}`` for pairs of the
        suite."""
        table = self.table(value, f"{where}.pair_params")
        known = {pair for dataset in datasets for pair in dataset.pairs}
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for pair, params in table.items():
            key = f'{where}.pair_params."{pair}"'
            source, sep, target = pair.partition(":")
            if not sep or (source, target) not in known:
                listed = ", ".join(f'"{s}:{t}"' for s, t in sorted(known))
                raise self.error(
                    key, f'keys are pairs of the suite as "source:target"; its pairs: {listed}.'
                )
            out[(source, target)] = self.table(params, key)
        return out

    def check_builds(self, entry: MethodEntry, where: str) -> None:
        """Build ``entry`` with its params, and try their values; ``where`` names the params in
        errors."""
        from transferkit.registry import make_method

        try:
            make_method(entry.name, dict(entry.params), entry.classifier, 0)
        except (InvalidParameterError, TypeError) as error:
            raise self.error(where, f"{error} Fix the parameter names or values.") from error
        error = parameter_value_error(entry)
        if error is not None:
            key = _named_parameter(entry.params, str(error))
            value = f" = {entry.params[key]!r}" if key is not None else ""
            where_key = where + (f".{key}" if key is not None else "")
            raise self.error(
                where_key,
                f"method '{entry.name}' (label '{entry.label}') rejects {key or 'its params'}"
                f"{value}: {error} Fix the value in the suite.",
            ) from error

    def published(self, value: Any) -> dict[str, Published]:
        table = self.table(value, "[suite].published")
        out: dict[str, Published] = {}
        for label, numbers in table.items():
            key = f"[suite].published.{label}"
            if _is_number(numbers):
                out[label] = Published(mean=float(numbers))
                continue
            if not isinstance(numbers, dict):
                raise self.error(key, f"must be a number or a table of numbers, got {numbers!r}.")
            mean = None
            pairs: dict[tuple[str, str], float] = {}
            for pair, number in numbers.items():
                if not _is_number(number):
                    raise self.error(f"{key}.{pair}", f"must be a number, got {number!r}.")
                if pair == "mean":
                    mean = float(number)
                    continue
                source, sep, target = pair.partition(":")
                if not sep:
                    raise self.error(
                        f"{key}.{pair}",
                        'keys are "mean" or "source:target" (quoted), e.g. "books:dvd" = 78.4.',
                    )
                pairs[(source, target)] = float(number)
            out[label] = Published(mean=mean, pairs=pairs)
        return out


#: Rows per domain and features of the generated problem :func:`parameter_value_error` fits on.
PROBE_SHAPE = (30, 4)


def parameter_value_error(entry: MethodEntry) -> InvalidParameterError | None:
    """The error a method's parameter *values* raise, found at load (shallow: a trial fit).

    The methods check their values in ``fit`` (scikit-learn's contract: ``__init__`` only
    stores), so the check fits the built method on a tiny generated problem. Only a
    :class:`~transferkit.exceptions.ParameterValueError` (raised by the value checks of
    :mod:`transferkit.checks` and ``kernels.check_kernel``) counts: those see the value alone, so
    they fail the same way on any data.
    Anything else the trial raises, such as ``n_components = 80`` being more than the trial's
    features, depends on the data and is left to the real cell. Entries without explicit
    parameters are not tried; deep methods are not trained, only their ``check_params`` runs.
    """
    import warnings

    from transferkit.datasets import make_shifted_blobs
    from transferkit.registry import make_method, method_spec

    spec = method_spec(entry.name)
    if not entry.params:
        return None
    if spec.deep or spec.family == "deep":
        # no trial training for networks: their own value checks, without data
        checker = getattr(
            make_method(entry.name, dict(entry.params), entry.classifier, 0), "check_params", None
        )
        try:
            if checker is not None:
                checker()
        except ParameterValueError as error:
            return error
        return None
    rows, features = PROBE_SHAPE
    problem = make_shifted_blobs(
        n_samples=rows, n_features=features, n_classes=2, n_test=rows, random_state=0
    )
    if spec.needs_target_labels:
        problem = problem.with_target_labels(2, random_state=0)
    method = make_method(entry.name, dict(entry.params), entry.classifier, 0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            method.fit(problem)
    except ParameterValueError as error:
        return error
    except Exception:  # noqa: BLE001 - a failure on the trial data says nothing about the values
        return None
    return None


def _named_parameter(params: Mapping[str, Any], message: str) -> str | None:
    """The parameter of ``params`` that an error message names as ``name=value``."""
    for key in params:
        if f"{key}=" in message:
            return key
    return None


#: Families ``methods = "all"`` leaves out (see :func:`_all_methods`).
#: Families of methods for the other kinds of benchmark task than transfer
#: (:func:`transferkit.datasets.dataset_kind`): they run only on datasets of their kind.
OTHER_TASK_FAMILIES = ("continual", "multitask", "robustness", "fewshot", "zeroshot")
AUTOMATIC_EXCLUDED_FAMILIES = (
    "deep",
    "heterogeneous",
    "crosslingual",
    "label_spaces",
    "multi-source",
    *OTHER_TASK_FAMILIES,
)


def _all_methods(
    registered: Mapping[str, Any],
    classifier: Any,
    exclude: Iterable[str],
    explicit: list[MethodEntry],
) -> list[MethodEntry]:
    """Every non-deep registered method that needs no target labels, baselines first, then the
    explicit entries (which replace an automatic one of the same label). The families made for
    other settings than one source and a target with the same classes are left out (their
    suites name their methods): heterogeneous (domains described by different features),
    cross-lingual (a parallel corpus beside the two domains), label spaces (partial and open-set
    targets: an open-set rejection on a closed-set target only loses rows), multi-source, and
    the methods of other kinds of task than transfer (continual, multi-task, robustness, few-
    and zero-shot)."""
    by_label = {m.label: m for m in explicit}
    specs = [
        spec
        for spec in registered.values()
        if not spec.deep
        and spec.family not in AUTOMATIC_EXCLUDED_FAMILIES
        and not spec.needs_target_labels
        and spec.name not in exclude
    ]
    specs.sort(key=lambda spec: (spec.family != "baseline", spec.family, spec.name))
    entries = []
    for spec in specs:
        entries.append(by_label.pop(spec.name, MethodEntry(spec.name, spec.name, {}, classifier)))
    entries.extend(m for m in explicit if m.label in by_label)
    return entries


def _check_seeds(seeds: Any, where: str) -> tuple[int, ...]:
    if (
        not isinstance(seeds, list | tuple)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise SuiteError(
            f"{where}: must be a non-empty list of non-negative integers, e.g. [0, 1, 2]; "
            f"got {seeds!r}."
        )
    if len(set(seeds)) != len(seeds):
        raise SuiteError(f"{where}: seeds {list(seeds)!r} repeat a value; list each seed once.")
    return tuple(int(s) for s in seeds)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
