import json
import time

import pytest

from rea.trainers.events import JobEvent, JobSpec, SignatureError, sign, verify

SECRET = "s3cret-for-tests"


def test_signature_round_trip_and_format():
    body = b'{"job_id":"j1"}'
    header = sign(SECRET, body, timestamp=1_700_000_000)
    t, v1 = header.split(",")
    assert t == "t=1700000000" and v1.startswith("v1=") and len(v1) == 3 + 64
    assert verify(SECRET, header, body, now=1_700_000_010) == 1_700_000_000


def test_signature_matches_hmac_of_timestamp_dot_body():
    import hashlib
    import hmac

    body = b"{}"
    expected = hmac.new(SECRET.encode(), b"42.{}", hashlib.sha256).hexdigest()
    assert sign(SECRET, body, timestamp=42) == f"t=42,v1={expected}"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("v1=abc", "malformed"),
        ("t=notanumber,v1=abc", "malformed"),
    ],
)
def test_missing_or_malformed_signatures_are_rejected(header, reason):
    with pytest.raises(SignatureError, match=reason):
        verify(SECRET, header, b"{}")


def test_wrong_secret_tampered_body_and_stale_are_rejected():
    body = b'{"a":1}'
    now = time.time()
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, sign("other", body), body)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, sign(SECRET, body), b'{"a":2}')
    with pytest.raises(SignatureError, match="stale"):
        verify(SECRET, sign(SECRET, body, timestamp=int(now) - 301), body, now=now)
    verify(SECRET, sign(SECRET, body, timestamp=int(now) - 299), body, now=now)


def test_job_spec_rejects_unknown_keys_and_bad_ids(tmp_path):
    base = dict(
        job_id="j1",
        campaign_id="c",
        config={"model": "lr"},
        data="synthetic:tiny",
        max_seconds=10,
        output_dir=str(tmp_path),
    )
    assert JobSpec.model_validate(base).seed_list == [0]
    assert JobSpec.model_validate({**base, "seeds": [3, 4]}).seed_list == [3, 4]
    with pytest.raises(ValueError):
        JobSpec.model_validate({**base, "secret": "x"})
    with pytest.raises(ValueError):
        JobSpec.model_validate({**base, "job_id": "../etc"})


def test_event_json_round_trip():
    event = JobEvent(job_id="j", attempt=1, seq=0, kind="started", at="2026-01-01T00:00:00Z")
    assert JobEvent.model_validate(json.loads(event.model_dump_json())) == event
