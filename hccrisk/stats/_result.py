"""Small frozen result records that also unpack like tuples: ``auc, low, high = auc_ci(y, s)``."""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator


@dataclasses.dataclass(frozen=True)
class Result:
    """Base of every statistics result: named fields, tuple unpacking, and a plain dict."""

    def __iter__(self) -> Iterator[Any]:
        return (getattr(self, f.name) for f in dataclasses.fields(self))

    def __len__(self) -> int:
        return len(dataclasses.fields(self))

    def __getitem__(self, i: int) -> Any:
        return tuple(self)[i]

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
