"""Real-format loaders: Criteo TSV / CSV, libFM, plain CSV; strict errors and skip_bad_lines."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from rea.trainers.data import load_data
from rea.trainers.errors import DataError

FIX = Path(__file__).parent / "fixtures" / "data"


def _load(ref: str, **kw):
    return load_data(ref, use_cache=False, **kw)


def _rows(data) -> int:
    return len(data.train) + len(data.valid) + len(data.test)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_criteo_raw_tsv_with_empty_cells():
    data = _load(f"criteo:{FIX}/criteo_small.tsv", dense_transform="none")
    assert data.info["format"] == "criteo-tsv" and data.info["skipped_lines"] == 0
    assert _rows(data) == 60 and data.info["rows"] == {"train": 48, "valid": 6, "test": 6}
    assert data.schema.sparse_names == tuple(f"C{i}" for i in range(1, 27))
    assert data.schema.dense_names == tuple(f"I{i}" for i in range(1, 14))
    assert data.train.sparse.dtype == torch.int64 and data.train.dense.dtype == torch.float32
    # Empty I cells become 0; with "none" every other value is the raw integer.
    dense = torch.cat([data.train.dense, data.valid.dense, data.test.dense])
    assert (dense == 0).any() and torch.equal(dense, dense.round())
    assert set(torch.cat([data.train.label, data.valid.label]).tolist()) <= {0.0, 1.0}


def test_empty_categorical_is_its_own_token_not_oov():
    # In time order, line 1's C1 is empty; the empty token is common, so it gets a real id.
    data = _load(f"criteo:{FIX}/criteo_small.tsv?split=time")
    first = _lines(FIX / "criteo_small.tsv")[0].split("\t")
    assert first[14] == ""  # C1 of line 1
    c1 = data.train.sparse[:, 0]
    assert c1[0] != 0
    empties = [
        i for i, ln in enumerate(_lines(FIX / "criteo_small.tsv")[:48]) if ln.split("\t")[14] == ""
    ]
    assert len(empties) > 1 and len(set(c1[empties].tolist())) == 1


def test_criteo_csv_with_header_matches_tsv_layout():
    data = _load(f"criteo:{FIX}/criteo_small.csv")
    assert data.info["format"] == "criteo-csv"
    assert _rows(data) == 60 and data.schema.num_sparse == 26 and data.schema.num_dense == 13


def test_criteo_header_with_reordered_columns(tmp_path):
    lines = _lines(FIX / "criteo_small.csv")
    cols = [ln.split(",") for ln in lines]
    order = [*range(1, 40), 0]  # label last
    path = tmp_path / "reordered.csv"
    path.write_text("\n".join(",".join(c[i] for i in order) for c in cols) + "\n")
    a = _load(f"criteo:{FIX}/criteo_small.csv?split=time")
    b = _load(f"criteo:{path}?split=time")
    assert torch.equal(a.train.label, b.train.label) and torch.equal(a.train.dense, b.train.dense)
    assert torch.equal(a.train.sparse, b.train.sparse)


def test_time_split_keeps_file_order_and_random_split_shuffles():
    labels = [float(ln.split("\t")[0]) for ln in _lines(FIX / "criteo_small.tsv")]
    timed = _load(f"criteo:{FIX}/criteo_small.tsv?split=time")
    assert timed.train.label.tolist() == labels[:48] and timed.test.label.tolist() == labels[54:]
    a = _load(f"criteo:{FIX}/criteo_small.tsv?split_seed=1")
    b = _load(f"criteo:{FIX}/criteo_small.tsv?split_seed=1")
    c = _load(f"criteo:{FIX}/criteo_small.tsv?split_seed=2")
    assert torch.equal(a.train.dense, b.train.dense) and not torch.equal(
        a.train.dense, c.train.dense
    )


def test_max_rows_reads_only_the_first_lines():
    data = _load(f"criteo:{FIX}/criteo_small.tsv?max_rows=20&split=0.5,0.25,0.25")
    assert data.info["rows"] == {"train": 10, "valid": 5, "test": 5}


def _write_bad(tmp_path: Path, name: str, line_no: int, edit) -> Path:
    lines = _lines(FIX / name)
    lines[line_no - 1] = edit(lines[line_no - 1])
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _set_cell(sep: str, index: int, value: str):
    def edit(line: str) -> str:
        cells = line.split(sep)
        cells[index] = value
        return sep.join(cells)

    return edit


@pytest.mark.parametrize(
    ("name", "line", "edit", "expected"),
    [
        (
            "criteo_small.tsv",
            17,
            _set_cell("\t", 5, "abc"),
            "line 17: field I5: 'abc' is not a number",
        ),
        ("criteo_small.tsv", 3, lambda ln: ln + "\textra", "line 3: expected 40 columns, found 41"),
        (
            "criteo_small.tsv",
            9,
            _set_cell("\t", 0, "2"),
            "line 9: field label: '2' is not a label 0 or 1",
        ),
        (
            "criteo_small.tsv",
            4,
            _set_cell("\t", 2, "inf"),
            "line 4: field I2: 'inf' is not a number",
        ),
        (
            "criteo_small.csv",
            12,
            _set_cell(",", 13, "x1"),
            "line 12: field I13: 'x1' is not a number",
        ),
        (
            "criteo_small.csv",
            30,
            lambda ln: ln.rsplit(",", 2)[0],
            "line 30: expected 40 columns, found 38",
        ),
    ],
)
def test_malformed_criteo_names_file_line_and_field(tmp_path, name, line, edit, expected):
    path = _write_bad(tmp_path, name, line, edit)
    with pytest.raises(DataError) as err:
        _load(f"criteo:{path}")
    assert f"criteo: {path} {expected}" in str(err.value)
    assert "skip_bad_lines=1" in str(err.value)  # says what to do


def test_skip_bad_lines_drops_and_counts(tmp_path):
    path = _write_bad(tmp_path, "criteo_small.tsv", 17, _set_cell("\t", 5, "abc"))
    lines = _lines(path)
    lines[2] += "\textra"
    lines.insert(5, "")  # a blank line is no data, not a bad line
    path.write_text("\n".join(lines) + "\n")
    data = _load(f"criteo:{path}?skip_bad_lines=1")
    assert data.info["skipped_lines"] == 2 and _rows(data) == 58


def test_mostly_bad_file_is_an_error_even_when_skipping(tmp_path):
    path = tmp_path / "wrong.tsv"
    shutil.copy(FIX / "ratings.train.libfm", path)
    with pytest.raises(DataError, match=r"no usable rows|probably not a criteo file"):
        _load(f"criteo:{path}?skip_bad_lines=1")


def test_criteo_header_missing_columns_is_explained(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("label,I1,C1\n0,1,ab\n")
    with pytest.raises(DataError, match=r"line 1: the header lacks I2, .*C26"):
        _load(f"criteo:{path}")


def _libfm_ref(*names: str) -> str:
    return "libfm:" + ",".join(str(FIX / f"ratings.{n}.libfm") for n in names)


def test_libfm_three_files_are_the_splits():
    data = _load(_libfm_ref("train", "valid", "test"), dense_transform="none")
    assert data.info["rows"] == {"train": 40, "valid": 12, "test": 12}
    assert data.schema.sparse_names == ("f1", "f2", "f3", "f4")
    # Position 4 carries values other than 1, so it is also a dense feature.
    assert data.schema.dense_names == ("f4_value",)
    values = {float(ln.split()[4].split(":")[1]) for ln in _lines(FIX / "ratings.train.libfm")}
    assert set(data.train.dense[:, 0].tolist()) == values
    labels = [0.0 if ln.split()[0] == "-1" else 1.0 for ln in _lines(FIX / "ratings.valid.libfm")]
    assert data.valid.label.tolist() == labels  # -1 → 0, file order kept


def test_libfm_ids_share_one_vocabulary_across_files():
    data = _load(_libfm_ref("train", "valid", "test"))
    train_user = {int(ln.split()[1].split(":")[0]) for ln in _lines(FIX / "ratings.train.libfm")}
    for i, line in enumerate(_lines(FIX / "ratings.valid.libfm")):
        user = int(line.split()[1].split(":")[0])
        assert (data.valid.sparse[i, 0] != 0) == (user in train_user)


def test_libfm_two_files_halve_the_validation_file():
    data = _load(_libfm_ref("train", "valid"))
    assert data.info["rows"] == {"train": 40, "valid": 6, "test": 6}


def test_libfm_single_file_is_split():
    data = _load(_libfm_ref("train"))
    assert data.info["rows"] == {"train": 32, "valid": 4, "test": 4}


@pytest.mark.parametrize(
    ("line", "edit", "expected"),
    [
        (5, lambda ln: ln.replace(":1 ", ":x ", 1), "line 5: field f1: "),
        (6, lambda ln: ln + " 99:1", "line 6: 5 idx:value pairs, but other lines have 4"),
        (7, lambda ln: "2" + ln[ln.index(" ") :], "line 7: label '2' is not -1, 0 or 1"),
        (8, lambda ln: ln.replace(":", "", 1), "line 8: field f1: "),
        (
            9,
            lambda ln: ln.split(" ", 2)[0] + " -3:1 " + ln.split(" ", 2)[2],
            "line 9: field f1: '-3:1'",
        ),
        (10, lambda ln: ln.rsplit(" ", 1)[0] + " 60:nan", "line 10: field f4: '60:nan'"),
    ],
)
def test_malformed_libfm_names_file_line_and_field(tmp_path, line, edit, expected):
    path = _write_bad(tmp_path, "ratings.train.libfm", line, edit)
    with pytest.raises(DataError) as err:
        _load(f"libfm:{path}")
    assert f"libfm: {path} {expected}" in str(err.value)
    data = _load(f"libfm:{path}?skip_bad_lines=1")
    assert data.info["skipped_lines"] == 1 and _rows(data) == 39


def test_csv_with_declared_schema():
    data = _load(
        f"csv:{FIX}/clicks.csv?schema={FIX}/clicks.schema.json&split=time", dense_transform="none"
    )
    assert data.schema.sparse_names == ("user", "ad", "hour") and data.schema.dense_names == (
        "price",
    )
    rows = [ln.split(",") for ln in _lines(FIX / "clicks.csv")[1:]]
    assert data.train.label.tolist() == [float(r[5]) for r in rows[:40]]
    prices = [0.0 if r[3] == "" else float(r[3]) for r in rows[:40]]
    assert data.train.dense[:, 0].tolist() == pytest.approx(prices, abs=1e-5)
    assert data.schema.cardinalities[1] == 1 + len({r[1] for r in rows[:40]})


def test_csv_errors_name_missing_columns_and_bad_cells(tmp_path):
    with pytest.raises(DataError, match=r"line 1: the header has no column 'clicks'"):
        _load(f"csv:{FIX}/clicks.csv?label=clicks&sparse=user")
    path = _write_bad(tmp_path, "clicks.csv", 11, _set_cell(",", 3, "cheap"))
    with pytest.raises(
        DataError, match=r"csv: .*clicks.csv line 11: field price: 'cheap' is not a number"
    ):
        _load(f"csv:{path}?label=clicked&sparse=user&dense=price")


def test_file_too_small_to_split_is_an_error(tmp_path):
    path = tmp_path / "two.tsv"
    path.write_text("\n".join(_lines(FIX / "criteo_small.tsv")[:2]) + "\n")
    with pytest.raises(DataError, match="cannot be split into non-empty"):
        _load(f"criteo:{path}")


def _criteo_with_i1(tmp_path: Path, values: list[str]) -> Path:
    """A TSV whose I1 column holds `values` (other columns copied from the fixture)."""
    lines = _lines(FIX / "criteo_small.tsv")[: len(values)]
    path = tmp_path / "i1.tsv"
    path.write_text(
        "\n".join(_set_cell("\t", 1, v)(ln) for ln, v in zip(lines, values, strict=True)) + "\n"
    )
    return path


@pytest.mark.parametrize("transform", ["log", "standard", "none"])
def test_dense_transforms_use_train_statistics_and_zero_missing(tmp_path, transform):
    values = ["0", "1", "3", "", "10", "-5", "100", "7", "2000", "4"]
    path = _criteo_with_i1(tmp_path, values)
    data = _load(f"criteo:{path}?split=time", dense_transform=transform)
    train = [float(v) if v else None for v in values[:8]]
    raw = torch.tensor([v for v in train if v is not None] + [4.0], dtype=torch.float64)
    if transform == "log":
        raw = torch.log1p(raw.clamp(min=0))  # negatives count as 0
    x, test_x = raw[:-1], raw[-1:]
    if transform != "none":  # statistics from train only, applied to test as well
        x, test_x = (
            (x - x.mean()) / x.std(unbiased=False),
            (test_x - x.mean()) / x.std(unbiased=False),
        )
    got = data.train.dense[:, 0].double()
    assert got[3] == 0.0  # missing → 0 after the transform
    kept = torch.tensor([i for i, v in enumerate(train) if v is not None])
    assert torch.allclose(got[kept], x, atol=1e-5)
    assert torch.allclose(data.test.dense[:, 0].double(), test_x, atol=1e-5)
