import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent

# The app tests type paths in pytest's temporary folders, but an app that others can reach reads
# only its models folder (app/resources.py, paths_restricted); the tests of that set it themselves.
os.environ.setdefault("RWKV_LOCAL_PATHS", "any")

from factory import SMALL, TEST_DEVICE, TEST_DTYPE, random_state_dict, write_pth  # noqa: E402  (after the environment is set)


@pytest.fixture(scope="session")
def small_sd():
    return random_state_dict(SMALL, seed=0)


@pytest.fixture(scope="session")
def small_pth(tmp_path_factory, small_sd):
    return write_pth(small_sd, tmp_path_factory.mktemp("ckpt") / "small.pth")


@pytest.fixture(scope="session")
def small_model(small_pth):
    import rwkv_core
    return rwkv_core.load_model(small_pth, device=TEST_DEVICE, dtype=TEST_DTYPE)


@pytest.fixture(scope="session")
def long_tokens():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, SMALL.vocab_size, (520,), generator=g).tolist()
