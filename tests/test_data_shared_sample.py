"""The published Criteo sample (200 rows, CSV with a header), when a checkout has it beside it.

The project's other tests use only their own fixtures; this one checks the loader against the
real file's quirks (floats in integer columns, empty cells, negative I2 values) where available.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rea.trainers.data import load_data

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "criteo_sample.csv"


@pytest.mark.skipif(
    not SAMPLE.is_file(), reason="shared/data/criteo_sample.csv is not beside this checkout"
)
def test_reads_the_published_criteo_sample():
    data = load_data(f"criteo:{SAMPLE}", use_cache=False)
    assert data.info["format"] == "criteo-csv" and data.info["skipped_lines"] == 0
    assert data.info["rows"] == {"train": 160, "valid": 20, "test": 20}
    assert data.schema.num_sparse == 26 and data.schema.num_dense == 13
    labels = torch.cat([data.train.label, data.valid.label, data.test.label])
    assert set(labels.tolist()) == {0.0, 1.0}
    assert torch.isfinite(data.train.dense).all()
    # Validation rows carry ids never seen in the 160 train rows: those are OOV.
    assert 0.0 < data.info["oov_rate"]["valid"] < 1.0
