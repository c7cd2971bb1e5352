"""scripts/download_cityscapes.py (on a small archive built here, and a file:// URL) and
scripts/make_synthetic_cityscapes.py."""
from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from factorgan.data.formats.cityscapes import cityscapes

REPO = Path(__file__).resolve().parents[2]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


download = load_script("download_cityscapes")


def jpeg_bytes(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 32, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def make_archive(path: Path, splits=("train", "val"), n: int = 3, hostile: bool = True) -> Path:
    """A tar.gz shaped like pix2pix's cityscapes.tar.gz, plus entries that must be skipped."""
    with tarfile.open(path, "w:gz") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        for split in splits:
            for i in range(1, n + 1):
                add(f"cityscapes/{split}/{i}.jpg", jpeg_bytes(i))
        if hostile:
            add("../escaped.txt", b"outside")
            add("other/readme.txt", b"not ours")
            link = tarfile.TarInfo("cityscapes/train/link.jpg")
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(link)
    return path


def test_unpacks_an_archive_into_the_layout_and_skips_unsafe_entries(tmp_path):
    archive = make_archive(tmp_path / "cityscapes.tar.gz")
    root = tmp_path / "data"
    assert download.main(["--root", str(root), "--archive", str(archive)]) == 0
    assert sorted(p.name for p in (root / "cityscapes" / "train").iterdir()) == ["1.jpg", "2.jpg", "3.jpg"]
    assert len(list((root / "cityscapes" / "val").glob("*.jpg"))) == 3
    assert not (tmp_path / "escaped.txt").exists() and not (root / "escaped.txt").exists()
    assert not (root / "other").exists()
    assert archive.exists()  # a user's own archive is never deleted
    assert [p.name for p in root.iterdir()] == ["cityscapes"]  # no temporary directories left
    data = cityscapes(paired=3, root=str(root), size=16)
    assert data.train.shape == (3, 6, 16, 16)
    # unpacking again replaces the splits instead of mixing old and new files
    (root / "cityscapes" / "train" / "stale.jpg").write_bytes(b"x")
    assert download.main(["--root", str(root), "--archive", str(archive)]) == 0
    assert not (root / "cityscapes" / "train" / "stale.jpg").exists()


def test_downloads_from_a_url_then_removes_the_archive(tmp_path):
    archive = make_archive(tmp_path / "served.tar.gz", hostile=False)
    root = tmp_path / "data"
    assert download.main(["--root", str(root), "--url", archive.as_uri()]) == 0
    assert len(list((root / "cityscapes" / "val").glob("*.jpg"))) == 3
    assert not (root / "cityscapes.tar.gz").exists()
    root2 = tmp_path / "data2"
    assert download.main(["--root", str(root2), "--url", archive.as_uri(), "--keep-archive"]) == 0
    assert (root2 / "cityscapes.tar.gz").exists()


def test_unreachable_url_fails_with_advice(tmp_path, capsys):
    missing = (tmp_path / "nothing.tar.gz").as_uri()
    assert download.main(["--root", str(tmp_path / "d"), "--url", missing]) == 1
    assert "--archive" in capsys.readouterr().err


def test_bad_arguments_and_archives_are_refused(tmp_path):
    with pytest.raises(SystemExit) as err:
        download.main(["--root", str(tmp_path), "--archive", str(tmp_path / "missing.tar.gz")])
    assert err.value.code == 2
    no_val = make_archive(tmp_path / "no_val.tar.gz", splits=("train",))
    with pytest.raises(SystemExit, match=r"cityscapes/\{val\}"):
        download.main(["--root", str(tmp_path / "d"), "--archive", str(no_val)])
    not_tar = tmp_path / "junk.tar.gz"
    not_tar.write_bytes(b"junk")
    with pytest.raises(SystemExit, match="not a readable tar"):
        download.main(["--root", str(tmp_path / "d"), "--archive", str(not_tar)])


def test_synthetic_script_writes_a_loadable_dataset(tmp_path):
    script = REPO / "scripts" / "make_synthetic_cityscapes.py"
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's package, installed or not
    out = subprocess.run([sys.executable, str(script), "--root", str(tmp_path), "--train", "5", "--val", "2",
                          "--size", "16"], capture_output=True, text=True, cwd=REPO, env=env)
    assert out.returncode == 0, out.stderr
    assert "experiment=cityscapes_seg_synthetic" in out.stdout
    data = cityscapes(paired=5, root=str(tmp_path), size=16)
    assert data.num_train == 5 and len(data.test) == 2
    bad = subprocess.run([sys.executable, str(script), "--root", str(tmp_path), "--train", "0"],
                         capture_output=True, text=True, cwd=REPO, env=env)
    assert bad.returncode == 2 and "--train" in bad.stderr
