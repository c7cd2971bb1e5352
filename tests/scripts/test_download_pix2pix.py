"""scripts/download_pix2pix.py on small archives built here in pix2pix's layout (no network:
downloads are tested on file:// URLs and a fake response)."""
from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pix2pix = load_script("download_pix2pix")


def pair_jpeg(seed: int, size: int = 8) -> bytes:
    """A tiny pix2pix file: left half a greyscale edge map stored as RGB, right half a 'photo'."""
    rng = np.random.default_rng(seed)
    edges = np.repeat(rng.integers(0, 2, (size, size, 1), dtype=np.uint8) * 255, 3, axis=2)
    photo = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(np.concatenate([edges, photo], axis=1)).save(buf, format="JPEG")
    return buf.getvalue()


def layout(name: str, splits=("train", "val"), first: int = 1, n: int = 3) -> dict[str, bytes]:
    """Archive member name -> bytes, named like pix2pix's files (``1_AB.jpg`` for edges2shoes)."""
    stem = "{}_AB.jpg" if name == "edges2shoes" else "{}.jpg"
    return {f"{name}/{split}/{stem.format(i)}": pair_jpeg(100 * k + i)
            for k, split in enumerate(splits) for i in range(first, first + n)}


def make_archive(path: Path, files: dict[str, bytes], extra=()) -> Path:
    """A tar.gz with directory entries and ``files`` (as pix2pix's), then the TarInfos in ``extra``."""
    with tarfile.open(path, "w:gz") as tar:
        for d in sorted({str(Path(n).parent) for n in files} | {Path(n).parts[0] for n in files}):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info, data in extra:
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return path


def contents(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run(name: str, root: Path, archive: Path) -> int:
    return pix2pix.main(["--dataset", name, "--root", str(root), "--archive", str(archive)])


def test_edges2shoes_unpacks_the_same_files_and_bytes(tmp_path, capsys):
    files = layout("edges2shoes", n=4)
    archive = make_archive(tmp_path / "edges2shoes.tar.gz", files)
    root = tmp_path / "data"
    assert run("edges2shoes", root, archive) == 0
    assert contents(root) == files
    assert sorted(p.name for p in (root / "edges2shoes" / "train").iterdir()) == [
        "1_AB.jpg", "2_AB.jpg", "3_AB.jpg", "4_AB.jpg"]
    assert [p.name for p in root.iterdir()] == ["edges2shoes"]  # no temporary directories left
    assert archive.exists()  # a user's own archive is never deleted
    out = capsys.readouterr().out
    assert "Edges2Shoes ready" in out and "4 train / 4 val" in out
    assert f"experiment=edges2shoes dataset.root={root}" in out and "Zappos50K" in out
    assert "49825 train / 200 val" in out  # a small archive is pointed out as not the full set


def test_a_second_unpack_replaces_the_splits(tmp_path):
    root = tmp_path / "data"
    assert run("edges2shoes", root, make_archive(tmp_path / "a.tar.gz", layout("edges2shoes", n=3))) == 0
    (root / "edges2shoes" / "val" / "stale.jpg").write_bytes(b"x")
    cache = root / "edges2shoes" / ".cache" / "train_64px.pt"  # the loader's cache beside the splits
    cache.parent.mkdir()
    cache.write_bytes(b"cache")
    newer = layout("edges2shoes", first=10, n=2)
    assert run("edges2shoes", root, make_archive(tmp_path / "b.tar.gz", newer)) == 0
    assert {k: v for k, v in contents(root).items() if "/.cache/" not in k} == newer
    assert cache.read_bytes() == b"cache"  # only the splits are replaced


def test_unsafe_members_are_skipped(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()

    def info(name: str, kind=tarfile.REGTYPE, link: str = "", data: bytes | None = None):
        member = tarfile.TarInfo(name)
        member.type, member.linkname, member.size = kind, link, len(data or b"")
        return member, data

    files = layout("edges2shoes", n=2)
    extra = [
        info("../escaped.jpg", data=b"up"),
        info("edges2shoes/train/../../../escaped2.jpg", data=b"up"),
        info(str(tmp_path / "absolute.jpg"), data=b"abs"),
        info("edges2shoes/train/passwd.jpg", tarfile.SYMTYPE, "/etc/passwd"),
        info("edges2shoes/train/evil", tarfile.SYMTYPE, str(outside)),  # then a file "through" it
        info("edges2shoes/train/evil/pwned.jpg", data=b"through the link"),
        info("edges2shoes/val/hard.jpg", tarfile.LNKTYPE, "../../../escaped.jpg"),
        info("edges2shoes/readme.txt", data=b"not a split"),
        info("cityscapes/train/1.jpg", data=b"another dataset"),
    ]
    archive = make_archive(tmp_path / "edges2shoes.tar.gz", files, extra)
    root = tmp_path / "data"
    assert run("edges2shoes", root, archive) == 0
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "edges2shoes.tar.gz", "outside"]
    assert not any(p.is_symlink() for p in root.rglob("*"))
    assert [p.name for p in root.iterdir()] == ["edges2shoes"]
    got = contents(root)
    # the one regular file under a split is kept, inside root, in a real directory
    assert got == {**files, "edges2shoes/train/evil/pwned.jpg": b"through the link"}


@pytest.mark.parametrize("given, expected", [("cityscapes", "edges2shoes"), ("edges2shoes", "cityscapes")])
def test_an_archive_of_the_other_dataset_is_refused(tmp_path, given, expected):
    archive = make_archive(tmp_path / f"{given}.tar.gz", layout(given))
    root = tmp_path / "data"
    with pytest.raises(SystemExit) as err:
        run(expected, root, archive)
    message = str(err.value.code)
    assert f"{expected}/{{train,val}}/*.jpg" in message
    assert f"{expected}.tar.gz" in message and pix2pix.DATASETS[expected].url in message
    assert f"--dataset {given}" in message  # names the archive it looks like
    assert not (root / expected).exists()


def test_a_missing_split_is_named(tmp_path):
    archive = make_archive(tmp_path / "e.tar.gz", layout("edges2shoes", splits=("train",)))
    with pytest.raises(SystemExit, match=r"edges2shoes/\{val\}/\*\.jpg.*edges2shoes\.tar\.gz"):
        run("edges2shoes", tmp_path / "data", archive)


def test_command_line_end_to_end(tmp_path):
    e2s = make_archive(tmp_path / "edges2shoes.tar.gz", layout("edges2shoes"))
    city = make_archive(tmp_path / "cityscapes.tar.gz", layout("cityscapes"))
    root = tmp_path / "data"
    out = subprocess.run([sys.executable, str(SCRIPTS / "download_pix2pix.py"), "--dataset", "edges2shoes",
                          "--root", str(root), "--archive", str(e2s)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert f"experiment=edges2shoes dataset.root={root}" in out.stdout
    # the Cityscapes wrapper: same command line as before, same work, into the same root
    out = subprocess.run([sys.executable, str(SCRIPTS / "download_cityscapes.py"),
                          "--root", str(root), "--archive", str(city)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "experiment=cityscapes_seg" in out.stdout and "experiment=cityscapes_pairs" in out.stdout
    assert contents(root) == {**layout("edges2shoes"), **layout("cityscapes")}


def test_bad_command_lines_are_rejected(tmp_path, capsys):
    for argv in (["--dataset", "horses"], []):  # unknown dataset; no dataset at all
        with pytest.raises(SystemExit) as err:
            pix2pix.main([*argv, "--root", str(tmp_path / "d")])
        assert err.value.code == 2
    assert "invalid choice: 'horses'" in capsys.readouterr().err
    wrapper = load_script("download_cityscapes")
    with pytest.raises(SystemExit) as err:  # the wrapper's dataset is fixed
        wrapper.main(["--dataset", "edges2shoes", "--root", str(tmp_path / "d")])
    assert err.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_download_from_a_file_url_then_unpack(tmp_path):
    archive = make_archive(tmp_path / "served.tar.gz", layout("edges2shoes"))
    dest = pix2pix.download(archive.as_uri(), tmp_path / "got" / "edges2shoes.tar.gz")
    assert dest.read_bytes() == archive.read_bytes()
    assert [p.name for p in dest.parent.iterdir()] == ["edges2shoes.tar.gz"]  # no .part left
    root = tmp_path / "data"
    assert pix2pix.main(["--dataset", "edges2shoes", "--root", str(root), "--url", archive.as_uri()]) == 0
    assert contents(root) == layout("edges2shoes")  # the downloaded archive is removed afterwards


def test_a_short_download_leaves_nothing(tmp_path, monkeypatch):
    class Truncated(io.BytesIO):
        headers = {"Content-Length": "100"}

    monkeypatch.setattr(pix2pix.urllib.request, "urlopen", lambda url, timeout: Truncated(b"only 17 bytes ..."))
    dest = tmp_path / "edges2shoes.tar.gz"
    with pytest.raises(OSError, match="incomplete download: 17 of 100"):
        pix2pix.download("http://example.invalid/edges2shoes.tar.gz", dest)
    assert list(tmp_path.iterdir()) == []


def test_the_table_and_the_usage():
    assert set(pix2pix.DATASETS) == {"cityscapes", "edges2shoes"}
    for name, spec in pix2pix.DATASETS.items():
        assert spec.url == f"http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
        assert set(spec.counts) == set(pix2pix.SPLITS) and spec.terms and spec.description
        assert f"--dataset {name} --root data" in pix2pix.__doc__
        for experiment in spec.experiments:
            assert f"python -m factorgan.train experiment={experiment} dataset.root=data" in pix2pix.__doc__
    assert pix2pix.DATASETS["edges2shoes"].counts == {"train": 49825, "val": 200}
