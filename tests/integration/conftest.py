"""pytest fixtures for the cnote integration tests: they start the real kernel through
jupyter_client and hand tests a BlockingKernelClient.

- `kc` (module scope): one kernel shared by the tests of a module; tests that share it use names
  of their own so they do not see each other's state.
- `fresh_kc` / `fresh_kernel` (function scope): a kernel of its own, for tests that crash, restart,
  interrupt or change settings (`%cflags`, `%memlimit`, `%reset`).
- `run(kc, code, ...)`: re-exported from harness.py, which holds all the message handling.

The kernelspec is found through JUPYTER_PATH, which scripts/run-integration.sh points at
.venv/share/jupyter (where `make install-kernelspec` puts it). CNOTE_KERNEL_NAME overrides the name.
"""

from __future__ import annotations

import os
import sys

import pytest
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from jupyter_client.manager import start_new_kernel

sys.path.insert(0, os.path.dirname(__file__))

from harness import run  # noqa: E402,F401  (re-exported for tests that import from conftest)

KERNEL_NAME = os.environ.get("CNOTE_KERNEL_NAME", "cnote")
STARTUP_TIMEOUT = 60


def start_kernel(name: str = KERNEL_NAME):
    """Start a kernel and wait until it answers kernel_info and IOPub works."""
    try:
        KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        pytest.fail(
            f"kernelspec {name!r} not found (JUPYTER_PATH={os.environ.get('JUPYTER_PATH')!r}); "
            "run `make install-kernelspec` and use scripts/run-integration.sh",
            pytrace=False,
        )
    return start_new_kernel(kernel_name=name, startup_timeout=STARTUP_TIMEOUT)


def stop_kernel(km, kc) -> None:
    kc.stop_channels()
    try:
        km.shutdown_kernel(now=False)  # shutdown_request first, then kill after a grace period
    except Exception:
        try:
            km.shutdown_kernel(now=True)
        except Exception:
            pass  # already gone (a test shut it down); nothing left to clean


@pytest.fixture(scope="module")
def kernel():
    """(KernelManager, BlockingKernelClient) shared by one test module."""
    km, kc = start_kernel()
    yield km, kc
    stop_kernel(km, kc)


@pytest.fixture(scope="module")
def kc(kernel):
    return kernel[1]


@pytest.fixture(scope="module")
def km(kernel):
    return kernel[0]


@pytest.fixture
def fresh_kernel():
    """(KernelManager, BlockingKernelClient) of a kernel used by one test only."""
    km, kc = start_kernel()
    yield km, kc
    stop_kernel(km, kc)


@pytest.fixture
def fresh_kc(fresh_kernel):
    return fresh_kernel[1]
