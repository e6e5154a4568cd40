"""The small shared helpers of vae_from_scratch/utils.py that no other test covers."""

import numpy as np
import pytest

from vae_from_scratch.utils import in_notebook_kernel, mean_sd


def test_mean_sd_is_the_mean_and_the_sample_spread():
    assert mean_sd([1.0, 2.0, 3.0]) == "2.000 ± 1.000"          # sample s.d. of 1, 2, 3 is 1
    assert mean_sd([0.5], digits=2) == "0.50"                   # one run: no spread
    assert mean_sd(np.array([[1, 3], [5, 7]]), digits=1) == "4.0 ± 2.6"   # √(20/3) = 2.58
    with pytest.raises(ValueError, match="at least one value"):
        mean_sd([])


def test_not_in_a_notebook_kernel_under_pytest():
    assert in_notebook_kernel() is False
