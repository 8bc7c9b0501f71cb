"""Fixtures every test module may ask for by name."""

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module of tiny models (on a busy 2-core machine thread hand-offs
    cost more than the maths), restored for whatever runs afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
