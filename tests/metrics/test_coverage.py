"""Mode coverage: classes covered and the class histogram's distance to the test split."""
from __future__ import annotations

import pytest
import torch

from factorgan.metrics.coverage import class_coverage


def test_a_one_class_generator_covers_one_class_and_is_far_from_the_test_split():
    test = torch.arange(1000).remainder(10).view(-1, 1).repeat(1, 2)  # every class, 100 each
    collapsed = torch.full((500, 2), 3)
    assert class_coverage(collapsed, test) == {"classes_covered": 1.0, "class_tv": pytest.approx(0.9)}
    assert class_coverage(test, test) == {"classes_covered": 10.0, "class_tv": 0.0}
    # the fewer classes of the two parts; a class under 1 % of the samples is not covered
    mixed = torch.stack([test[:, 0], torch.where(torch.arange(1000) < 995, 0, 1)], dim=1)
    got = class_coverage(mixed, test)
    assert got["classes_covered"] == 1.0 and 0.4 < got["class_tv"] < 0.5
