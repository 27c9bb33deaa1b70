"""DataSource: the rows of the train / val / test splits, gathered by index and served in batches of the
serving inputs plus `label` (TrainSet, TabularSet, WithoutVectors)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np


class DataSource(ABC):
    # Sort each shuffled batch's row indices before gathering (memory-mapped columns are then read in file order).
    sort_shuffled: bool = False

    @abstractmethod
    def rows(self, split: str) -> int: ...

    @abstractmethod
    def labels(self, split: str) -> np.ndarray: ...

    @abstractmethod
    def cold(self, split: str) -> np.ndarray: ...

    @abstractmethod
    def gather(self, split: str, idx: np.ndarray) -> dict[str, np.ndarray]:
        """The rows `idx` of `split`, in that order: the serving inputs and `label`."""

    def batches(
        self,
        split: str,
        batch_size: int,
        shuffle: bool = False,
        rng: np.random.Generator | None = None,
        limit: int | None = None,
    ) -> Iterator[dict[str, np.ndarray]]:
        """The first `limit` rows (all without one) in batches, in order or shuffled with `rng`."""
        n = self.rows(split) if limit is None else min(limit, self.rows(split))
        order = (rng or np.random.default_rng()).permutation(n) if shuffle else np.arange(n)
        for s in range(0, n, batch_size):
            idx = order[s : s + batch_size]
            yield self.gather(split, np.sort(idx) if shuffle and self.sort_shuffled else idx)
