"""The cache of MUSDB18's song spectrograms (:mod:`factorgan.data.formats.musdb`): computed once,
in parallel over songs, into a folder keyed by the file list and every setting, and read
a snippet at a time (:class:`SongFile`).
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from factorgan.data.interface import DatasetError
from factorgan.data.formats.musdb_songs import AudioSettings, list_songs, song_spectrograms

CACHE_VERSION = 2  # bump when the cached arrays change meaning (2: frames-major)


# ---- the cache --------------------------------------------------------------------------
def cache_key(tracks: Sequence, settings: AudioSettings) -> str:
    """Hash of every song file (name, size, modification time) and every setting."""
    h = hashlib.sha1(json.dumps({"settings": asdict(settings), "version": CACHE_VERSION}, sort_keys=True).encode())
    for track in tracks:
        paths = [Path(track.path)] if not Path(track.path).is_dir() else sorted(Path(track.path).glob("*.wav"))
        for p in paths:
            st = p.stat()
            h.update(f"{track.subset}/{track.name}/{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def _compute(job: tuple) -> tuple[str, int]:
    root, is_wav, subset, name, settings, out = job
    track = next(t for t in list_songs(Path(root), subset, is_wav) if t.name == name)
    # frames-major (frames, 3, bins): a snippet is one contiguous block of the file
    spec = np.ascontiguousarray(song_spectrograms(track, settings).transpose(2, 0, 1))
    tmp = Path(out).with_suffix(".tmp.npy")
    np.save(tmp, spec)
    tmp.replace(out)  # atomic: an interrupted build never leaves half a song
    return name, spec.shape[-1]


def build_cache(root: Path, is_wav: bool, tracks: Sequence, settings: AudioSettings, cache_dir: Path,
                workers: int) -> Path:
    """Compute every missing song into ``cache_dir/<key>/`` (in parallel over songs);
    returns that folder, which holds ``<subset>/<song>.npy`` and ``index.json``."""
    folder = cache_dir / cache_key(tracks, settings)
    index = folder / "index.json"
    if index.exists():
        return folder
    jobs = []
    for t in tracks:
        out = folder / t.subset / f"{t.name}.npy"
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            jobs.append((str(root), is_wav, t.subset, t.name, settings, str(out)))
    if jobs:
        workers = max(1, min(workers, len(jobs)))
        desc = f"spectrograms ({len(jobs)} songs -> {folder})"
        if workers == 1:
            for job in tqdm(jobs, desc=desc, unit="song"):
                _compute(job)
        else:
            # one song per worker and one thread each: the workers share the cores
            with ProcessPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,)) as pool:
                # The songs are written by the workers; iterating drives the progress bar.
                list(tqdm(pool.map(_compute, jobs), total=len(jobs), desc=desc, unit="song"))
    songs = {t.subset + "/" + t.name: SongFile(folder / t.subset / f"{t.name}.npy").frames for t in tracks}
    index.write_text(json.dumps({"settings": asdict(settings), "frames": songs}, indent=1))
    return folder


class SongFile:
    """One cached song, ``(frames, 3, bins)`` float16 in an ``.npy`` file, read by
    ``pread``: a snippet is one contiguous read that lands in the page cache, not in the
    process's memory (a memory map would keep every touched page resident)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
        if fortran or dtype != np.float16 or len(shape) != 3:
            raise DatasetError(f"{self.path} is not a song of this cache version: delete its folder to rebuild it")
        self.frames, self.channels, self.bins = (int(s) for s in shape)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(3, bins, frames)``, the song's spectrogram shape."""
        return self.channels, self.bins, self.frames

    def read(self, start: int = 0, length: int | None = None, channels: slice = slice(None)) -> np.ndarray:
        """Frames ``start .. start + length`` as float16 ``(C, bins, length)``."""
        length = self.frames - start if length is None else length
        row = self.channels * self.bins * 2  # bytes per frame
        fd = os.open(self.path, os.O_RDONLY)
        try:
            raw = os.pread(fd, length * row, self.offset + start * row)
        finally:
            os.close(fd)
        block = np.frombuffer(raw, dtype=np.float16).reshape(length, self.channels, self.bins)
        return block[:, channels].transpose(1, 2, 0)

