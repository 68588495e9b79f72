import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent

# The app tests type paths in pytest's temporary folders, but an app that others can reach reads
# only its models folder (app/resources.py, paths_restricted); the tests of that set it themselves.
os.environ.setdefault("RWKV_LOCAL_PATHS", "any")

from factory import SMALL, TEST_DEVICE, TEST_DTYPE, random_state_dict, write_pth  # noqa: E402  (after the environment is set)


ORIGINAL_MAIN = sys.modules["__main__"]      # pytest's own, before any app has run in this process


@pytest.fixture(autouse=True)
def restore_main():
    """Streamlit's script runner (AppTest runs the app in this process) puts the app's page in
    sys.modules["__main__"] and leaves it there. A child that multiprocessing later spawns re-runs the
    parent's __main__ from its file: it ran the app, loaded the model and ended aborted by the
    app's calibration thread (tests/test_rooms_store.py, in the whole suite only). Every test starts and
    ends with pytest's own __main__, whatever a module- or session-scoped fixture ran before it."""
    sys.modules["__main__"] = ORIGINAL_MAIN
    yield
    sys.modules["__main__"] = ORIGINAL_MAIN


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
