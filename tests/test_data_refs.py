"""Data references: the typed parse and the errors a user sees for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from rea.trainers.data import PRESETS, parse_ref
from rea.trainers.errors import DataError

FIX = Path(__file__).parent / "fixtures" / "data"


def test_synthetic_ref_defaults_and_options():
    ref = parse_ref("synthetic:tiny")
    assert (ref.scheme, ref.preset, ref.rows, ref.seed) == ("synthetic", "tiny", None, 0)
    ref = parse_ref("synthetic:criteo-like?rows=5000&seed=7")
    assert (ref.preset, ref.rows, ref.seed) == ("criteo-like", 5000, 7)


def test_file_refs_parse_paths_and_options():
    ref = parse_ref(
        f"criteo:{FIX}/criteo_small.tsv?max_rows=10&skip_bad_lines=1&split=0.6,0.2,0.2&split_seed=3"
    )
    assert ref.paths == (FIX / "criteo_small.tsv",)
    assert (ref.max_rows, ref.skip_bad_lines, ref.split, ref.split_seed) == (
        10,
        True,
        (0.6, 0.2, 0.2),
        3,
    )
    assert parse_ref(f"criteo:{FIX}/criteo_small.tsv?split=time").split == "time"
    names = ",".join(str(FIX / f"ratings.{s}.libfm") for s in ("train", "valid", "test"))
    assert len(parse_ref(f"libfm:{names}").paths) == 3


def test_csv_inline_schema_and_schema_file_agree():
    inline = parse_ref(f"csv:{FIX}/clicks.csv?label=clicked&sparse=user,ad,hour&dense=price")
    from_file = parse_ref(f"csv:{FIX}/clicks.csv?schema={FIX}/clicks.schema.json")
    for ref in (inline, from_file):
        assert (ref.label, ref.sparse, ref.dense, ref.sep) == (
            "clicked",
            ("user", "ad", "hour"),
            ("price",),
            ",",
        )
    assert parse_ref(f"csv:{FIX}/clicks.csv?label=clicked&dense=price&sep=tab").sep == "\t"


def test_options_exclude_paths_for_the_cache_key():
    a = parse_ref(f"criteo:{FIX}/criteo_small.tsv")
    b = parse_ref(f"criteo:{FIX}/../data/criteo_small.tsv")
    assert a.options() == b.options()
    assert a.options() != parse_ref(f"criteo:{FIX}/criteo_small.tsv?split_seed=1").options()


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("parquet:x.parquet", "unknown scheme 'parquet'"),
        ("no-scheme-here", "no scheme"),
        ("synthetic:nope", "unknown synthetic preset 'nope'"),
        ("synthetic:tiny?rows=abc", "rows='abc' is not an integer"),
        ("synthetic:tiny?rows=5", "rows=5 is out of range"),
        ("synthetic:tiny?max_rows=5", "unknown option 'max_rows' for synthetic"),
        ("synthetic:tiny?seed=1&seed=2", "option 'seed' given twice"),
        ("synthetic:tiny?seed", "is not key=value"),
        ("criteo:/no/such/file.tsv", "file not found: /no/such/file.tsv"),
        ("criteo:", "empty file path"),
        (f"criteo:{FIX}", "not a regular file"),
        (f"criteo:{FIX}/criteo_small.tsv?colour=red", "unknown option 'colour' for criteo"),
        (f"criteo:{FIX}/criteo_small.tsv?split=0.5,0.5", "not three positive fractions"),
        (f"criteo:{FIX}/criteo_small.tsv?split=0.8,0.1,0.2", "not three positive fractions"),
        (f"criteo:{FIX}/criteo_small.tsv?split=a,b,c", "is not three numbers"),
        (f"criteo:{FIX}/criteo_small.tsv?skip_bad_lines=maybe", "is not a boolean"),
        (f"csv:{FIX}/clicks.csv", "csv needs a label column"),
        (f"csv:{FIX}/clicks.csv?label=clicked", "csv needs a label column"),
        (f"csv:{FIX}/clicks.csv?label=a&sparse=a", "declared twice"),
        (f"csv:{FIX}/clicks.csv?label=clicked&dense=price&sep=ab", "is not one character"),
        (f"csv:{FIX}/clicks.csv?schema={FIX}/clicks.csv", "is not valid JSON"),
        (f"csv:{FIX}/clicks.csv?schema={FIX}/clicks.schema.json&label=x", "both schema= and"),
    ],
)
def test_bad_refs_name_the_reference_and_the_problem(ref, expected):
    with pytest.raises(DataError) as err:
        parse_ref(ref)
    message = str(err.value)
    assert expected in message
    assert repr(ref) in message  # the reference itself is quoted


def test_split_option_needs_a_single_file():
    names = ",".join(str(FIX / f"ratings.{s}.libfm") for s in ("train", "valid"))
    with pytest.raises(DataError, match="split= applies to a single file"):
        parse_ref(f"libfm:{names}?split=0.8,0.1,0.1")


def test_unreadable_file_is_reported(monkeypatch):
    # Root reads any file whatever its mode, so simulate the permission check failing.
    monkeypatch.setattr("rea.trainers.data.refs.os.access", lambda path, mode: False)
    with pytest.raises(DataError, match="file not readable"):
        parse_ref(f"criteo:{FIX}/criteo_small.tsv")


def test_every_preset_is_reachable_by_reference():
    for name in PRESETS:
        assert parse_ref(f"synthetic:{name}").preset == name
