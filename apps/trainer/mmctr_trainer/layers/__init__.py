"""Layers the models are built from, one concern per module: embedding (a table or projection per layout slot),
sequence (pooling, history gate, broadcast), attention (QIN's sparse target
attention, DIN's attention unit, vector similarity), interaction (AutoInt's interacting layer, QIN's quadratic
layer), mlp and serving (exact export rewrites)."""

from .attention import DINAttention, SparseTargetAttention, vector_similarity, vector_similarity_all
from .embedding import Embeddings
from .interaction import InteractingLayer, QuadraticLayer
from .mlp import MLP
from .sequence import HistoryGate, expand_batch, masked_mean, slot_users
from .serving import ServingPReLU, replace_prelu_for_serving

__all__ = [
    "DINAttention",
    "Embeddings",
    "HistoryGate",
    "InteractingLayer",
    "MLP",
    "QuadraticLayer",
    "ServingPReLU",
    "SparseTargetAttention",
    "expand_batch",
    "masked_mean",
    "replace_prelu_for_serving",
    "slot_users",
    "vector_similarity",
    "vector_similarity_all",
]
