#!/usr/bin/env python
"""Download pix2pix's Cityscapes archive and unpack it for ``experiment=cityscapes_seg``.

    python scripts/download_cityscapes.py --root data
    python scripts/download_cityscapes.py --root data --archive ~/Downloads/cityscapes.tar.gz
    python -m factorgan.train experiment=cityscapes_seg dataset.root=data

Result: ``<root>/cityscapes/train/*.jpg`` (2,975) and ``<root>/cityscapes/val/*.jpg`` (500),
each a 512×256 photo | colour segmentation map. The archive (about 100 MB) comes from the
pix2pix authors' server; ``--archive`` unpacks a copy you already have instead (e.g.
on a machine without a network connection). The images derive from the Cityscapes
dataset: its terms of use apply (https://www.cityscapes-dataset.com/license/).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/cityscapes.tar.gz"
SPLITS = ("train", "val")


def download(url: str, dest: Path) -> Path:
    """Fetch ``url`` to ``dest`` with a progress bar (via a temporary file)."""
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as f:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
            while chunk := response.read(1 << 20):
                f.write(chunk)
                bar.update(len(chunk))
    tmp.replace(dest)
    return dest


def unpack(archive: Path, root: Path) -> Path:
    """Unpack the archive's ``cityscapes/{train,val}`` into ``<root>/cityscapes``.

    Only regular files and directories under ``cityscapes/`` are extracted (no links,
    no absolute or ``..`` paths); the archive is checked for both splits first.
    """
    try:
        tar = tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError) as err:
        raise SystemExit(f"error: {archive} is not a readable tar archive ({err})")
    with tar:
        members = [m for m in tar.getmembers() if _safe(m)]
        found = {Path(m.name).parts[1] for m in members if m.isfile() and len(Path(m.name).parts) == 3}
        missing = [s for s in SPLITS if s not in found]
        if missing:
            raise SystemExit(
                f"error: {archive} has no cityscapes/{{{','.join(missing)}}}/*.jpg; expected pix2pix's "
                f"cityscapes.tar.gz (from {URL})"
            )
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            tar.extractall(tmp, members=members)
            target = root / "cityscapes"
            target.mkdir(parents=True, exist_ok=True)
            for split in SPLITS:  # replace whole splits: no mix of old and new files
                if (target / split).exists():
                    shutil.rmtree(target / split)
                shutil.move(str(Path(tmp) / "cityscapes" / split), target / split)
    return root / "cityscapes"


def _safe(member: tarfile.TarInfo) -> bool:
    parts = Path(member.name).parts
    return (
        (member.isfile() or member.isdir())
        and not Path(member.name).is_absolute()
        and ".." not in parts
        and len(parts) >= 1
        and parts[0] == "cityscapes"
        and (len(parts) < 2 or parts[1] in SPLITS)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("data"), help="dataset root (default: data)")
    parser.add_argument("--archive", type=Path, help="unpack this cityscapes.tar.gz instead of downloading")
    parser.add_argument("--url", default=URL, help=f"archive URL (default: {URL})")
    parser.add_argument("--keep-archive", action="store_true", help="keep the downloaded archive")
    args = parser.parse_args(argv)

    root = args.root.expanduser()
    root.mkdir(parents=True, exist_ok=True)
    if args.archive is not None:
        if not args.archive.is_file():
            parser.error(f"--archive {args.archive} does not exist")
        archive = args.archive
    else:
        archive = root / "cityscapes.tar.gz"
        if not archive.exists():
            try:
                download(args.url, archive)
            except OSError as err:  # URLError, timeouts, refused connections
                print(f"error: could not download {args.url}: {err}\nDownload it elsewhere and run "
                      f"this script with --archive <file>.", file=sys.stderr)
                return 1
    out = unpack(archive, root)
    counts = {s: len(list((out / s).glob("*.jpg"))) for s in SPLITS}
    if args.archive is None and not args.keep_archive:
        archive.unlink()
    print(f"Cityscapes ready in {out}: {counts['train']} train / {counts['val']} val images")
    print(f"Train with: python -m factorgan.train experiment=cityscapes_seg dataset.root={root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
