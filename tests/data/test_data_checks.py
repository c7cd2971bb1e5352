"""The loaded data checked against the model and the batch (factorgan.data.checks)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from factorgan.data.checks import check_batch, check_pairs
from factorgan.errors import ConfigError, DatasetError


def test_pooled_data_names_each_part_pool_and_small_pools_are_kept() -> None:
    data = SimpleNamespace(name="arrays(d.npz)", part_names=None,
                           pool_sizes=lambda: {"complete": 20, "paired": 10, "part_0": 40, "part_1": 35})
    check_batch(25, data, "gan")  # 25 from 10 pairs: the paper's practice, kept
    check_batch(64, data, "factorgan")  # a small batch is never refused, however small the data
    with pytest.raises(ConfigError) as err:
        check_batch(65, data, "factorgan")
    assert ("20 complete samples, 10 pairs (paired=10), 40 of part 0, 35 of part 1" in str(err.value)
            and "trainer.batch_size=64 " in str(err.value))
    big = SimpleNamespace(name="arrays(e.npz)", part_names=None, pool_sizes=lambda: {"paired": 10, "part_0": 400})
    check_batch(400, big, "factorgan")
    with pytest.raises(ConfigError, match="trainer.batch_size=400 "):
        check_batch(401, big, "factorgan")


def test_a_model_that_needs_pairs_is_refused_data_without_any():
    none = SimpleNamespace(name="arrays(d.npz)", paired=0, input_parts=1)
    with pytest.raises(DatasetError, match=r"model=factorgan needs complete samples, but arrays\(d.npz\) has paired=0.*factorgan_no_cp"):
        check_pairs("factorgan", True, none, inputs_paired=False)
    with pytest.raises(DatasetError, match="model=gan needs complete samples"):  # its inputs come from the pairs
        check_pairs("gan", False, none, inputs_paired=True)
    check_pairs("factorgan_no_cp", False, none, inputs_paired=False)  # trains without pairs
    check_pairs("factorgan", True, SimpleNamespace(name="d", paired=3, input_parts=0), inputs_paired=False)
