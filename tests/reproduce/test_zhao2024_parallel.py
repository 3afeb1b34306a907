"""zhao2024's trainings on worker processes give exactly the networks and probabilities of training here,
one after the other (so ``--workers`` changes no number of the report); results come back in job order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from hccrisk.nets.engine import TrainConfig
from hccrisk.reproduce.zhao2024_parallel import run_jobs, train_arms

TINY = TrainConfig(epochs=2, batch_size=8, lr=1e-2, momentum=0.9, milestones=(), l1=0.0, l2=1e-4, patience=0)


def _toy(n: int = 24, size: int = 16) -> tuple[dict[str, np.ndarray], pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(0)
    ids = [f"P{i:03d}" for i in range(n)]
    labels = pd.Series(np.tile([0, 1], n // 2), index=ids)
    inputs = {p: rng.normal(0, 1, (9, size, size)).astype(np.float32) + labels[p] for p in ids}
    return inputs, labels, pd.DataFrame({"rad_score": rng.normal(size=n) + labels.to_numpy()}, index=ids)


def test_worker_trainings_are_bit_identical_to_training_here():
    inputs, labels, tabular = _toy()
    train = list(labels.index[:20])
    jobs = [{"inputs": inputs, "labels": labels, "train": train, "depth": "resnet10", "config": TINY, "seed": 0},
            {"inputs": inputs, "labels": labels, "train": train, "depth": "resnet10", "config": TINY, "seed": 0,
             "tabular": tabular}]
    threads = torch.get_num_threads()
    here, workers = train_arms(jobs, workers=1), train_arms(jobs, workers=2)
    assert torch.get_num_threads() == threads  # trained single-threaded, the caller's setting restored
    for a, b in zip(here, workers):
        assert a.summary["dlrcr"] == b.summary["dlrcr"]
        pd.testing.assert_series_equal(a.probabilities, b.probabilities, check_exact=True)
        for name, value in a.net.state_dict().items():
            assert torch.equal(value, b.net.state_dict()[name]), name
    assert [a.summary["dlrcr"] for a in workers] == [False, True]  # job order kept
    assert not here[0].probabilities.equals(here[1].probabilities)


def test_jobs_come_back_in_order():
    assert run_jobs(pow, [(2, k) for k in range(6)], workers=2) == [2 ** k for k in range(6)]
