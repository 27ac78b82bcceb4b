"""``transferkit datasets``: every dataset, its domains, sizes, citation, licence and files.

Besides the catalogue's datasets (transfer pairs for ``load_pair``), the data home holds resources
that are not pairs: the FreeDict dictionaries, gold word pairs for bilingual lexicon induction.
They are listed after the datasets, with their files (``origin`` "data home (resource)" in JSON).

``--verify`` checks every present file's SHA-256 and names each file that fails: the sum found,
the one expected and where a fresh copy comes from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click


def _file_status(files: list[str], verify: bool) -> dict[str, Any]:
    from transferkit.datasets import check_file, get_data_home, system_copy

    home = get_data_home()
    present = [f for f in files if (home / f).is_file()]
    # files a system package installed (e.g. Debian's dataset-fashion-mnist); the loader verifies them
    system = {f: str(system_copy(f)) for f in files if f not in present and system_copy(f)}
    missing = [f for f in files if f not in present and f not in system]
    status: dict[str, Any] = {
        "data_home": str(home),
        "n_files": len(files),
        "n_present": len(present) + len(system),
        "missing": missing,
    }
    if system:
        status["system_copies"] = system
    if verify:
        bad = []
        for name in present:
            check = check_file(name)
            if not check.ok:
                bad.append(
                    {
                        "file": name,
                        "error": check.describe(),
                        "expected": check.expected,
                        "found": check.found,
                        "source": check.source,
                    }
                )
        status["verified"] = not bad and not missing
        status["checksum_errors"] = bad
    return status


def _status_text(status: dict[str, Any], verify: bool) -> str:
    if status["n_files"] == 0:
        return "no files needed (generated or shipped with a package)"
    text = f"{status['n_present']}/{status['n_files']} present in {status['data_home']}"
    if status.get("system_copies"):
        copies = status["system_copies"]
        folders = sorted({str(Path(p).parent) for p in copies.values()})
        text = (
            f"{status['n_present']}/{status['n_files']} present: "
            f"{status['n_present'] - len(copies)} in {status['data_home']}, {len(copies)} "
            f"installed under {', '.join(folders)}"
        )
    if status["missing"]:
        shown = ", ".join(status["missing"][:3])
        more = f" and {len(status['missing']) - 3} more" if len(status["missing"]) > 3 else ""
        text += f"; missing: {shown}{more}"
    if verify:
        if status["checksum_errors"]:
            text += f"; {len(status['checksum_errors'])} fail their SHA-256 check"
        elif status["n_present"]:
            text += "; SHA-256 verified" if status["verified"] else "; present ones SHA-256 ok"
    return text


def _resources() -> list[dict[str, Any]]:
    """Data-home resources that are not transfer pairs, in the shape of a catalogue entry."""
    from transferkit.datasets import listed_files, public_source
    from transferkit.datasets.freedict import FREEDICT_FOLDER

    files = listed_files(f"{FREEDICT_FOLDER}/")
    dictionaries = sorted(
        {name.rsplit("/", 1)[1].split(".")[0] for name in files} - {"COPYRIGHT", "README"}
    )
    return [
        {
            "name": "freedict",
            "description": (
                "FreeDict bilingual dictionaries (dictd format): gold word pairs for bilingual "
                "lexicon induction (transferkit.datasets.load_freedict_pairs), not a transfer pair."
            ),
            "domains": {},
            "dictionaries": dictionaries,
            "pairs": [],
            "citation": "The FreeDict project, dictionaries 2022.04.21 (https://freedict.org).",
            "licence": "GPL-2+ (see freedict/COPYRIGHT; eng-deu is the Ding dictionary, GPL/AGPL)",
            "origin": "data home (resource)",
            "source_url": public_source(files[0]),
            "files": files,
        }
    ]


@click.command()
@click.option("--verify", is_flag=True, help="Check every present file's SHA-256 (slower).")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def datasets(verify: bool, as_json: bool) -> None:
    """List every dataset: domains and sizes, pairs, citation, licence, and its files."""
    from transferkit.datasets import dataset_kind, list_datasets

    entries = []
    for info in list_datasets():
        entries.append(
            {
                "name": info.name,
                "kind": dataset_kind(info.name),
                "description": info.description,
                "domains": dict(info.domains),
                "pairs": [list(p) for p in info.pairs],
                "citation": info.citation,
                "licence": info.licence,
                "origin": info.origin,
                "source_url": info.source_url,
                "files": _file_status(list(info.files), verify),
            }
        )
    for resource in _resources():
        entries.append({**resource, "files": _file_status(resource["files"], verify)})
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    for entry in entries:
        domains = ", ".join(f"{d} ({n:,})" for d, n in entry["domains"].items())
        kind = entry.get("kind", "transfer")
        tags = entry["origin"] if kind == "transfer" else f"{kind} tasks; {entry['origin']}"
        click.echo(click.style(entry["name"], bold=True) + f"  [{tags}]")
        if "dictionaries" in entry:
            click.echo(f"  what:     {entry['description']}")
            click.echo(f"  dicts:    {', '.join(entry['dictionaries'])}")
        else:
            click.echo(f"  domains:  {domains}")
            click.echo(f"  pairs:    {len(entry['pairs'])} standard")
        click.echo(f"  files:    {_status_text(entry['files'], verify)}")
        for bad in entry["files"].get("checksum_errors", []):
            click.echo(f"  corrupt:  {bad['error']}")
        if entry["source_url"]:
            click.echo(f"  source:   {entry['source_url']}")
        click.echo(f"  licence:  {entry['licence']}")
        click.echo(f"  cite:     {entry['citation']}")
        click.echo("")
