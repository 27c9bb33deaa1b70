"""The feed-forward tower (Linear, optional BatchNorm, ReLU, optional Dropout per hidden layer)."""

from __future__ import annotations

from torch import Tensor, nn


class MLP(nn.Module):
    def __init__(
        self, in_dim: int, hidden: list[int], dropout: float = 0.0, batch_norm: bool = False, out_dim: int | None = 1
    ):
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers.append(nn.Linear(d, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = h
        if out_dim is not None:
            layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim if out_dim is not None else d

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
