import math

import pytest
import torch

from factorgan.runs.tensorboard.scalars import NonFiniteLossError, ScalarLog, check_finite


def test_interval_means_per_tag_and_in_place_reset():
    log = ScalarLog()
    log.add({"a": torch.tensor(1.0), "b": torch.tensor(2.0)})
    log.add({"a": torch.tensor(3.0), "b": torch.tensor(4.0)})
    log.add({"a": torch.tensor(5.0)})  # another set of tags that shares "a"
    assert log.flush() == pytest.approx({"a": 3.0, "b": 3.0})
    assert log.flush() == {}  # nothing added since
    log.add({"a": torch.tensor(7.0)})
    assert log.flush() == pytest.approx({"a": 7.0})


def test_accumulators_keep_their_memory():
    # A CUDA-graph replay adds into the same tensors, so flush must not replace them.
    log = ScalarLog()
    log.add({"x": torch.tensor(2.0)})
    (buf,) = log._sums.values()
    ptr = buf.data_ptr()
    log.flush()
    log.add({"x": torch.tensor(4.0)})
    assert next(iter(log._sums.values())).data_ptr() == ptr
    assert log.flush() == pytest.approx({"x": 4.0})


def test_nonfinite_losses_are_named():
    check_finite({"loss/g": 1.0, "acc/d_joint": math.nan}, 5)  # only losses are checked
    with pytest.raises(NonFiniteLossError, match="loss/d_dep_q"):
        check_finite({"loss/g": 1.0, "loss/d_dep_q": math.inf}, 5)
