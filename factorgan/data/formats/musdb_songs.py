"""MUSDB18's songs read into spectrograms (:mod:`factorgan.data.formats.musdb`): the layout
under ``root``, each song's sources, mono resampling and the log-magnitude STFT.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from factorgan.data.interface import DatasetError

SOURCES = ("drums", "bass", "other", "vocals")
PARTS = ("mixture", "accompaniment", "vocals")  # the channels of a sample
MUSDB_RATE = 44_100
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

