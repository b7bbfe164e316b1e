"""rea.trainers.models: the CTR ranking model families (lr, fm, deepfm, dcn_v2, dlrm, finalmlp).

    model = build_model(config, schema)
    logits, emb_sq = model.forward_with_reg(batch.sparse, batch.dense)   # [B], scalar

See docs/models.md for each family's parts, shapes and config keys.
"""

from .base import CtrModel, DenseFieldEmbedding, FieldEmbedding, FirstOrder
from .build import FAMILIES, build_model
from .families import DLRM, DCNv2, DeepFM, FactorizationMachine, FinalMLP, LogisticRegression
from .layers import MLP, BilinearFusion, CrossNetwork, DotInteraction, FeatureGate, fm_second_order

__all__ = [
    "DLRM",
    "FAMILIES",
    "MLP",
    "BilinearFusion",
    "CrossNetwork",
    "CtrModel",
    "DCNv2",
    "DeepFM",
    "DenseFieldEmbedding",
    "DotInteraction",
    "FactorizationMachine",
    "FeatureGate",
    "FieldEmbedding",
    "FinalMLP",
    "FirstOrder",
    "LogisticRegression",
    "build_model",
    "fm_second_order",
]
