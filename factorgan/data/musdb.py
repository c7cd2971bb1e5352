"""MUSDB18 for singing-voice separation (paper section 4.4), memory-mapped from a cache.

Layouts, detected under ``root`` (read through the ``musdb`` package)::

    <root>/train/<song>.stem.mp4, <root>/test/<song>.stem.mp4          MUSDB18 (needs ffmpeg)
    <root>/train/<song>/{mixture,drums,bass,other,vocals}.wav, test/    MUSDB18-HQ

Preprocessing (the official code's): each source mono (channel mean), resampled to
22,050 Hz, STFT with a 512-sample Hann window and hop 256 (centred), magnitudes with the
highest bin dropped (256 bins), ``log1p``. Accompaniment = drums + bass + other. The
mixture is the file's stored mixture track (``mixture="stored"``, the default: the
official code trained and evaluated on it; in ``.stem.mp4`` files it is AAC-encoded
separately and differs slightly from the sum of the stems), or accompaniment + vocals
(``mixture="sum"``: the sources add up to it exactly, as the generator's mask assumes).

A song becomes one float16 array ``(3, 256, frames)``: mixture | accompaniment | vocals.
The arrays are computed once (in parallel over songs, with a progress bar) into a cache
folder keyed by the file list and every setting, outside the dataset folder, stored
frames-major, and read a snippet at a time with ``pread`` (:class:`SongFile`): memory
does not grow with the number of songs. A training sample is a
snippet of 128 frames starting every 64 frames.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor
from tqdm.auto import tqdm

from factorgan.data.interface import TEST, TRAIN, DatasetError, PairedCountError, TrainingData
from factorgan.data.in_memory import paired_count
from factorgan.method.factorisation import Factorisation

SOURCES = ("drums", "bass", "other", "vocals")
PARTS = ("mixture", "accompaniment", "vocals")  # the channels of a sample
MUSDB_RATE = 44_100
CACHE_VERSION = 2  # bump when the cached arrays change meaning (2: frames-major)
PAIRED_SEED = 1337  # the official code's shuffle of the training songs
HELP = """Expected MUSDB18 or MUSDB18-HQ under {root}:
  {root}/train/<song>.stem.mp4 and {root}/test/<song>.stem.mp4        (MUSDB18; needs ffmpeg)
  {root}/train/<song>/{{mixture,drums,bass,other,vocals}}.wav, test/   (MUSDB18-HQ)
The dataset cannot be downloaded by a script: request it at https://sigsep.github.io/datasets/musdb.html
(zenodo). A 7-second preview of every song: python -c "import musdb; musdb.DB(root='data/musdb_preview', download=True)".
Synthetic songs for a CPU demo: python scripts/make_synthetic_musdb.py --root {root}"""


@dataclass(frozen=True)
class AudioSettings:
    """Spectrogram settings (the official code's); every field keys the cache."""

    sample_rate: int = 22_050
    n_fft: int = 512
    hop: int = 256
    mixture: str = "stored"  # stored: the file's mixture track (official) | sum: accompaniment + vocals

    def __post_init__(self) -> None:
        if self.mixture not in ("sum", "stored"):
            raise DatasetError(f"dataset.mixture={self.mixture!r}: use 'sum' or 'stored'")

    @property
    def bins(self) -> int:
        return self.n_fft // 2  # the highest bin dropped


# ---- reading songs --------------------------------------------------------------------
def detect_layout(root: Path) -> bool:
    """True for MUSDB18-HQ's wav folders, False for ``.stem.mp4`` files; a clear error
    naming the layouts when ``root`` holds neither."""
    train = root / "train"
    if not train.is_dir():
        raise DatasetError(f"no {train} directory.\n" + HELP.format(root=root))
    stems = list(train.glob("*.stem.mp4"))
    folders = [p for p in train.iterdir() if p.is_dir()]
    if stems and not folders:
        return False
    if folders and not stems:
        return True
    what = "both stems and wav folders" if stems else "neither .stem.mp4 files nor song folders"
    raise DatasetError(f"{train} holds {what}.\n" + HELP.format(root=root))


def check_song_files(root: Path, is_wav: bool) -> None:
    """Every wav song folder holds every stem (naming the song and the missing file)."""
    if not is_wav:
        return
    for subset in ("train", "test"):
        for song in sorted(p for p in (root / subset).glob("*") if p.is_dir()):
            missing = [f"{s}.wav" for s in ("mixture", *SOURCES) if not (song / f"{s}.wav").exists()]
            if missing:
                raise DatasetError(f"song {song.name!r} ({song}) is missing {', '.join(missing)}")


def list_songs(root: Path, subset: str, is_wav: bool, split: str | None = None) -> list:
    """The ``musdb`` tracks of ``subset`` (``split``: musdb's train/valid split of the
    training songs, or None for all), sorted by name."""
    if not is_wav and not (_which("ffmpeg") and _which("ffprobe")):
        raise DatasetError("reading .stem.mp4 files needs ffmpeg and ffprobe on PATH: "
                           "apt-get install ffmpeg (Debian/Ubuntu), brew install ffmpeg (macOS), "
                           "or conda install -c conda-forge ffmpeg; or use MUSDB18-HQ's wav files")
    import musdb  # heavy, and needs ffmpeg for stems: imported where used

    db = musdb.DB(root=str(root), subsets=[subset], is_wav=is_wav, split=split)
    return sorted(db.tracks, key=lambda t: t.name)


def _which(cmd: str) -> bool:
    import shutil

    return shutil.which(cmd) is not None


def read_track(track, mixture: str = "stored") -> tuple[np.ndarray, dict[str, np.ndarray], int]:
    """A ``musdb`` track as recorded: the mixture (``stored`` or ``sum``), the sources
    ``{"accompaniment", "vocals"}`` (accompaniment = drums + bass + other), each float32
    ``(samples, channels)``, and the sample rate; a clear error for unreadable audio."""
    try:
        sources = {s: np.asarray(track.sources[s].audio, dtype=np.float32) for s in SOURCES}
        stored = np.asarray(track.audio, dtype=np.float32) if mixture == "stored" else None
        rate = int(track.rate)
    except Exception as err:  # noqa: BLE001  (soundfile, stempeg and ffmpeg raise many kinds)
        raise DatasetError(f"cannot read the audio of song {track.name!r} ({track.path}): {err}") from None
    refs = {"accompaniment": sources["drums"] + sources["bass"] + sources["other"], "vocals": sources["vocals"]}
    return (refs["accompaniment"] + refs["vocals"] if stored is None else stored), refs, rate


def track_audio(track, settings: AudioSettings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mixture, accompaniment, vocals) of a ``musdb`` track: mono float32 at
    ``settings.sample_rate``."""
    mixture, refs, rate = read_track(track, settings.mixture)
    if rate != MUSDB_RATE:
        print(f"note: song {track.name!r} is at {rate} Hz, not {MUSDB_RATE}: resampled")
    return tuple(_mono_resampled(x, rate, settings.sample_rate)  # type: ignore[return-value]
                 for x in (mixture, refs["accompaniment"], refs["vocals"]))


def _mono_resampled(audio: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    import librosa  # heavy: imported where used

    mono = audio.mean(axis=1) if audio.ndim == 2 else audio
    return librosa.resample(np.ascontiguousarray(mono), orig_sr=rate, target_sr=to_rate).astype(np.float32)


def log_spectrogram(audio: np.ndarray, settings: AudioSettings) -> np.ndarray:
    """Mono audio ``(samples,)`` -> ``log1p`` magnitudes ``(bins, frames)`` float32."""
    window = torch.hann_window(settings.n_fft)
    spec = torch.stft(torch.from_numpy(audio), settings.n_fft, settings.hop, window=window,
                      center=True, return_complex=True)
    return torch.log1p(spec.abs()[: settings.bins]).numpy()


def song_spectrograms(track, settings: AudioSettings) -> np.ndarray:
    """One song: float16 ``(3, bins, frames)``, mixture | accompaniment | vocals."""
    return np.stack([log_spectrogram(x, settings) for x in track_audio(track, settings)]).astype(np.float16)


# ---- the cache --------------------------------------------------------------------------
def default_cache_dir() -> Path:
    return Path(os.environ.get("FACTORGAN_CACHE", Path.home() / ".cache" / "factorgan")) / "musdb"


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


# ---- the dataset ------------------------------------------------------------------------
def snippet_index(frames: Sequence[int], length: int, hop: int) -> np.ndarray:
    """``(S, 2)`` rows (song, start frame) of the snippets of ``length`` frames starting
    every ``hop`` frames, as the official code cut them (``range(0, frames - length, hop)``:
    a snippet ending exactly at the song's end is left out; songs of ``length`` frames or
    fewer give none)."""
    rows = [(s, start) for s, n in enumerate(frames) for start in range(0, n - length, hop)]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


def paired_songs(names: Sequence[str], paired: int, seed: int = PAIRED_SEED) -> list[str]:
    """The first ``paired`` of the training songs after a seeded shuffle (the official
    code's), so 10 ⊂ 20 ⊂ 50 and every model gets the same songs."""
    order = sorted(names)
    random.Random(seed).shuffle(order)
    return order[:paired]


class MusdbData(TrainingData):
    """Snippets of cached spectrograms: samples ``(3, bins, snippet)`` with parts
    mixture (the generator's input) | accompaniment | vocals.

    ``paired`` counts songs: snippets of the first ``paired`` songs after the seeded
    shuffle are complete samples; every training song feeds the marginal pools and, for
    FactorGAN, the generator's inputs.
    """

    def __init__(self, songs: dict[str, list[SongFile]], names: dict[str, list[str]], paired: int,
                 snippet: int = 128, snippet_hop: int = 64, name: str = "MUSDB",
                 tracks: dict[str, list] | None = None, settings: AudioSettings | None = None) -> None:
        self.factorisation = Factorisation(0, [1, 1, 1])
        self.input_parts = 1
        self.name = name
        self.songs, self.names = songs, names
        self.tracks = tracks or {}
        self.settings = settings or AudioSettings()
        self.snippet = int(snippet)
        n_train = len(songs[TRAIN])
        if paired < 0 or paired > n_train:
            err = PairedCountError if paired > n_train else DatasetError
            raise err(f"paired={paired} songs: {name} has {n_train} training songs (paired counts songs; "
                      f"the maximum is paired={n_train})")
        self.paired = int(paired)
        frames = {k: [s.shape[-1] for s in v] for k, v in songs.items()}
        self.index = {k: torch.from_numpy(snippet_index(frames[k], self.snippet, snippet_hop)) for k in songs}
        # the test split's snippets for grids and generic evaluators: consecutive, no overlap
        self.index[TEST] = torch.from_numpy(snippet_index(frames[TEST], self.snippet, self.snippet))
        chosen = set(paired_songs(names[TRAIN], paired))
        paired_ids = torch.tensor([i for i, n in enumerate(names[TRAIN]) if n in chosen], dtype=torch.long)
        self.paired_rows = torch.nonzero(torch.isin(self.index[TRAIN][:, 0], paired_ids)).flatten()
        if len(self.index[TRAIN]) == 0:
            raise DatasetError(f"{name}: no training song is {self.snippet} frames long")
        self._device = torch.device("cpu")

    # ---- shapes and placement -------------------------------------------------------
    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (3, int(self.songs[TRAIN][0].shape[1]), self.snippet)

    @property
    def device(self) -> torch.device:
        return self._device

    def to(self, device, memory_format=torch.preserve_format) -> "MusdbData":
        """Batches are made on ``device``; the spectrograms stay memory-mapped on disk."""
        self._device = torch.device(device)
        return self

    # ---- reading snippets ----------------------------------------------------------
    def _gather(self, split: str, rows: Tensor, channels: slice = slice(None)) -> Tensor:
        """Snippets ``rows`` (indices into the split's snippet index) as float32 on the device."""
        table = self.index[split][rows.cpu()].tolist()  # host read: snippets live on disk anyway
        arrays = [self.songs[split][s].read(t, self.snippet, channels) for s, t in table]
        batch = torch.from_numpy(np.stack(arrays).astype(np.float32))
        return batch.to(self._device, non_blocking=True)

    def _draw(self, n: int, high: int, generator: torch.Generator) -> Tensor:
        return torch.randint(high, (n,), generator=generator, device=generator.device)

    def sample_paired(self, n: int, generator: torch.Generator) -> Tensor:
        if self.paired == 0:
            raise DatasetError("this model needs paired songs but paired=0; set paired ≥ 1")
        return self._gather(TRAIN, self.paired_rows[self._draw(n, len(self.paired_rows), generator).cpu()])

    def sample_part(self, i: int, n: int, generator: torch.Generator) -> Tensor:
        return self._gather(TRAIN, self._draw(n, len(self.index[TRAIN]), generator), slice(i, i + 1))

    def sample_inputs(self, n: int, generator: torch.Generator, paired_only: bool = False) -> Tensor:
        if paired_only:
            return self.sample_paired(n, generator)[:, :1]
        return self.sample_part(0, n, generator)

    def sample_outputs(self, n: int, generator: torch.Generator) -> Tensor:
        return self._gather(TRAIN, self._draw(n, len(self.index[TRAIN]), generator), slice(1, 3))

    # ---- evaluation -----------------------------------------------------------------
    def num_samples(self, split: str = TEST) -> int:
        return len(self.index[split])

    def samples(self, split: str, index: Tensor) -> Tensor:
        return self._gather(split, index)

    def examples(self, n: int) -> Tensor:
        """``n`` test snippets spread evenly over the test songs (the first ones of a song
        are often an intro without vocals), on the CPU."""
        total = self.num_samples(TEST)
        rows = torch.linspace(0, total - 1, min(n, total)).round().long()
        return self.samples(TEST, rows).cpu()

    def song_names(self, split: str = TEST) -> list[str]:
        return list(self.names[split])

    def song(self, name: str, split: str = TEST) -> np.ndarray:
        """A whole song's ``log1p`` spectrograms, float16 ``(3, bins, frames)``."""
        return self.songs[split][self.names[split].index(name)].read()

    def song_audio(self, name: str, split: str = TEST) -> tuple[np.ndarray, dict[str, np.ndarray], int]:
        """A test song as recorded (:func:`read_track`): mixture, reference sources, rate."""
        if split not in self.tracks:
            raise DatasetError(f"{self.name} was built without its audio files: song audio is not available")
        return read_track(self.tracks[split][self.names[split].index(name)], self.settings.mixture)

    def __repr__(self) -> str:
        return (f"MusdbData({self.name}: {len(self.songs[TRAIN])} train / {len(self.songs[TEST])} test songs, "
                f"{len(self.index[TRAIN])} training snippets of {self.sample_shape}, paired={self.paired} songs)")


def musdb(
    paired: int | str,
    root: str = "data/musdb18",
    mixture: str = "stored",
    validation: bool = False,
    snippet: int = 128,
    snippet_hop: int = 64,
    sample_rate: int = 22_050,
    n_fft: int = 512,
    hop: int = 256,
    cache_dir: str | None = None,
    workers: int | None = None,
    songs: int | None = None,
) -> MusdbData:
    """MUSDB18 / MUSDB18-HQ under ``root`` as a :class:`MusdbData` (module docstring).

    Args:
        paired: training songs available as complete (mixture, sources) samples.
        mixture: ``stored`` (the file's mixture, the official code's) or ``sum``
            (accompaniment + vocals).
        validation: hold out musdb's 14 validation songs (musdb's train/valid split).
        snippet / snippet_hop: training snippets of ``snippet`` frames every ``snippet_hop``.
        cache_dir: where the spectrograms are cached (None: ``$FACTORGAN_CACHE/musdb`` or
            ``~/.cache/factorgan/musdb``); never the dataset folder.
        workers: processes computing spectrograms (None: the available cores).
        songs: use only the first ``songs`` training and test songs (quick looks, tests).
    """
    root_path = Path(root).expanduser()
    settings = AudioSettings(sample_rate, n_fft, hop, mixture)
    is_wav = detect_layout(root_path)
    check_song_files(root_path, is_wav)
    tracks = {TRAIN: list_songs(root_path, "train", is_wav, "train" if validation else None),
              TEST: list_songs(root_path, "test", is_wav)}
    if songs is not None:
        tracks = {k: v[:songs] for k, v in tracks.items()}
    if not tracks[TRAIN] or not tracks[TEST]:
        raise DatasetError(f"{root_path}: no songs in {'train' if not tracks[TRAIN] else 'test'}.\n"
                           + HELP.format(root=root_path))
    paired = paired_count(paired, len(tracks[TRAIN]))
    if paired > len(tracks[TRAIN]):
        raise PairedCountError(f"paired={paired} songs is larger than the {len(tracks[TRAIN])} training songs "
                               f"of {root_path}; the maximum is paired={len(tracks[TRAIN])}")
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    n_workers = workers or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    folder = build_cache(root_path, is_wav, tracks[TRAIN] + tracks[TEST], settings, cache, n_workers)
    arrays = {k: [SongFile(folder / t.subset / f"{t.name}.npy") for t in v] for k, v in tracks.items()}
    names = {k: [t.name for t in v] for k, v in tracks.items()}
    kind = "MUSDB18-HQ" if is_wav else "MUSDB18"
    return MusdbData(arrays, names, paired, snippet, snippet_hop, name=f"{kind}({root_path})", tracks=tracks,
                     settings=settings)
