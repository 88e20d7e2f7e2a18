import pyro
import pytest
import torch


@pytest.fixture(autouse=True)
def pyro_state():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    torch.set_num_threads(2)
    with pyro.validation_enabled(True):
        yield
    pyro.clear_param_store()
