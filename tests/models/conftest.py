"""One BLAS thread per test: on the shared 2-core machine threaded BLAS on small matrices is ~15x
slower than single-threaded (measured with MLPClassifier)."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _single_blas_thread():
    with threadpool_limits(limits=1):
        yield
