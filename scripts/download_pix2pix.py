#!/usr/bin/env python
"""Download one of pix2pix's aligned datasets and unpack it under ``--root``.

    python scripts/download_pix2pix.py --dataset cityscapes --root data
    python scripts/download_pix2pix.py --dataset edges2shoes --root data
    python scripts/download_pix2pix.py --dataset edges2shoes --root data --archive ~/Downloads/edges2shoes.tar.gz

Result (each file: input | target side by side, 512×256)::

    <root>/cityscapes/train/*.jpg     2,975  photo | colour segmentation map
    <root>/cityscapes/val/*.jpg         500
    <root>/edges2shoes/train/*.jpg   49,825  edge map (greyscale, stored as RGB) | shoe photo
    <root>/edges2shoes/val/*.jpg        200

Then train with:

    python -m factorgan.train experiment=cityscapes_seg dataset.root=data
    python -m factorgan.train experiment=cityscapes_pairs dataset.root=data
    python -m factorgan.train experiment=edges2shoes dataset.root=data

The archives (cityscapes.tar.gz about 100 MB, edges2shoes.tar.gz about 2 GB) come from
the pix2pix authors' server; ``--archive`` unpacks a copy you already have instead (e.g.
on a machine without a network connection). Unpacking replaces whole splits, and takes
only regular files and directories under ``<dataset>/{train,val}/``. Terms: the
Cityscapes images derive from the Cityscapes dataset, whose terms of use apply
(https://www.cityscapes-dataset.com/license/); Edges2Shoes derives from UT Zappos50K
(A. Yu and K. Grauman), for research use.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import NamedTuple

SPLITS = ("train", "val")
SERVER = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets"


class Dataset(NamedTuple):
    title: str                    # for messages
    url: str
    counts: dict[str, int]        # files per split in the authors' archive
    description: str              # one line: what each file holds
    terms: str                    # licence / terms of use of the source data (a sentence)
    experiments: tuple[str, ...]  # ``experiment=`` configs that train on it


DATASETS: dict[str, Dataset] = {
    "cityscapes": Dataset(
        title="Cityscapes",
        url=f"{SERVER}/cityscapes.tar.gz",
        counts={"train": 2975, "val": 500},
        description="city scene photo | colour segmentation map, 512x256 per file",
        terms="The images derive from the Cityscapes dataset: its terms of use apply "
              "(https://www.cityscapes-dataset.com/license/).",
        experiments=("cityscapes_seg", "cityscapes_pairs"),
    ),
    "edges2shoes": Dataset(
        title="Edges2Shoes",
        url=f"{SERVER}/edges2shoes.tar.gz",
        counts={"train": 49825, "val": 200},
        description="shoe edge map (greyscale, stored as RGB) | shoe photo, 512x256 per file",
        terms="The images derive from UT Zappos50K (A. Yu and K. Grauman), for research use.",
        experiments=("edges2shoes",),
    ),
}


def download(url: str, dest: Path) -> Path:
    """Fetch ``url`` to ``dest`` with a progress bar, via ``<dest>.part`` (renamed when complete)."""
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            done = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
        if total is not None and done != total:
            raise OSError(f"incomplete download: {done} of {total} bytes")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(dest)
    return dest


def unpack(archive: Path, root: Path, name: str) -> Path:
    """Unpack the archive's ``<name>/{train,val}`` into ``<root>/<name>``; returns that folder.

    Only regular files and directories under ``<name>/{train,val}`` are extracted (no
    links, no absolute or ``..`` paths); the archive is checked for both splits first, and
    each split already in ``<root>/<name>`` is replaced as a whole.
    """
    spec = DATASETS[name]
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as err:
        raise SystemExit(f"error: {archive} is not a readable tar archive ({err})")
    with tar:
        everything = tar.getmembers()
        members = [m for m in everything if _safe(m, name)]
        found = {Path(m.name).parts[1] for m in members if m.isfile() and len(Path(m.name).parts) == 3}
        missing = [s for s in SPLITS if s not in found]
        if missing:
            message = (
                f"error: {archive} has no {name}/{{{','.join(missing)}}}/*.jpg; expected pix2pix's "
                f"{name}.tar.gz (from {spec.url}), holding {name}/train/*.jpg and {name}/val/*.jpg"
            )
            tops = {Path(m.name).parts[0] for m in everything if Path(m.name).parts}
            others = sorted(tops & set(DATASETS) - {name})
            if others:
                message += (f"\n{archive} looks like pix2pix's {others[0]}.tar.gz: unpack it with "
                            f"python scripts/download_pix2pix.py --dataset {others[0]} --archive {archive}")
            raise SystemExit(message)
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-unpack-") as tmp:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.10.12: a second line of defence
                tar.extractall(tmp, members=members, filter="data")
            else:
                tar.extractall(tmp, members=members)
            target = root / name
            target.mkdir(parents=True, exist_ok=True)
            for split in SPLITS:  # replace whole splits: no mix of old and new files
                if (target / split).exists():
                    shutil.rmtree(target / split)
                shutil.move(str(Path(tmp) / name / split), target / split)
    return root / name


def _safe(member: tarfile.TarInfo, name: str) -> bool:
    parts = Path(member.name).parts
    return (
        (member.isfile() or member.isdir())
        and not Path(member.name).is_absolute()
        and ".." not in parts
        and len(parts) >= 1
        and parts[0] == name
        and (len(parts) < 2 or parts[1] in SPLITS)
    )


def build_parser(dataset: str | None = None, description: str | None = None) -> argparse.ArgumentParser:
    """The command line; ``dataset`` fixes the dataset (no ``--dataset`` option), as wrappers do."""
    parser = argparse.ArgumentParser(description=description or __doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    if dataset is None:
        parser.add_argument("--dataset", required=True, choices=sorted(DATASETS),
                            help="which pix2pix archive to fetch and unpack")
    archive_name = f"{dataset or '<dataset>'}.tar.gz"
    url_default = DATASETS[dataset].url if dataset else f"{SERVER}/{archive_name}"
    parser.add_argument("--root", type=Path, default=Path("data"), help="dataset root (default: data)")
    parser.add_argument("--archive", type=Path, help=f"unpack this {archive_name} instead of downloading")
    parser.add_argument("--url", help=f"archive URL (default: {url_default})")
    parser.add_argument("--keep-archive", action="store_true", help="keep the downloaded archive")
    return parser


def main(argv: list[str] | None = None, *, dataset: str | None = None, description: str | None = None) -> int:
    parser = build_parser(dataset, description)
    args = parser.parse_args(argv)
    name = dataset or args.dataset
    spec = DATASETS[name]
    url = args.url or spec.url

    root = args.root.expanduser()
    root.mkdir(parents=True, exist_ok=True)
    if args.archive is not None:
        if not args.archive.is_file():
            parser.error(f"--archive {args.archive} does not exist")
        archive = args.archive
    else:
        archive = root / f"{name}.tar.gz"
        if not archive.exists():
            print(f"Downloading pix2pix's {name}.tar.gz ({spec.title}: {spec.description})")
            try:
                download(url, archive)
            except OSError as err:  # URLError, timeouts, refused connections, short reads
                print(f"error: could not download {url}: {err}\nDownload it elsewhere and run "
                      f"this script with --archive <file>.", file=sys.stderr)
                return 1
    out = unpack(archive, root, name)
    counts = {s: len(list((out / s).glob("*.jpg"))) for s in SPLITS}
    if args.archive is None and not args.keep_archive:
        archive.unlink()
    print(f"{spec.title} ready in {out}: {counts['train']} train / {counts['val']} val images")
    if counts != spec.counts:
        print(f"note: pix2pix's {name}.tar.gz holds {spec.counts['train']} train / {spec.counts['val']} val "
              f"images; this archive differs (a partial or modified copy?)")
    print(spec.terms)
    for experiment in spec.experiments:
        print(f"Train with: python -m factorgan.train experiment={experiment} dataset.root={root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
