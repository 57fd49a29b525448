"""Fuzzing the readers (issue 13): random and mutated JSON into every artifact loader, random and mutated
bytes into the media probe. Whatever comes in, the answer is a loaded artifact or one ``NarrascoreError``
(ArtifactError / MediaError) with a one-line message: never another exception, never a hang."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import narrascore  # noqa: E402
from narrascore.artifacts import (  # noqa: E402
    AffectCurve, MediaInfo, MusicConcept, NarrativePlan, Shots, read_artifact, save_artifact,
)
from narrascore.errors import ArtifactError, MediaError  # noqa: E402
from narrascore.media import probe  # noqa: E402

ARTIFACTS = (MediaInfo, Shots, AffectCurve, NarrativePlan, MusicConcept)
FUZZ = settings(max_examples=60, deadline=timedelta(seconds=20), derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# JSON values, including what Python's json module also reads: NaN, Infinity, huge integers.
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=10**300, max_value=10**320)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
                           max_leaves=30)


@pytest.fixture(scope="module")
def envelopes(short_video, tmp_path_factory) -> dict[type, dict]:
    """The five real artifact files of a short video, as parsed JSON."""
    from narrascore.concept import conceive

    out = tmp_path_factory.mktemp("fuzz-artifacts")
    result = narrascore.analyze(short_video.path, out)
    save_artifact(conceive(result.plan, style="auto", seed=0), out)
    return {cls: json.loads((out / cls.FILENAME).read_text()) for cls in ARTIFACTS}


def _read(cls: type, path: Path, text: str | bytes) -> None:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        read_artifact(cls, path)
    except ArtifactError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message, message


def _paths(value, prefix=()):
    """Every place in a JSON tree: the tuple of keys and indices that leads there."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, (*prefix, i))


def _mutate(document, path, action: str, new):
    """A copy of ``document`` with the value at ``path`` replaced, deleted or given an extra key."""
    doc = json.loads(json.dumps(document))
    if not path:
        return new
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "extra" and isinstance(parent[last], dict):
        parent[last]["unexpected"] = new
    else:
        parent[last] = new
    return doc


@pytest.mark.timeout(600)
@pytest.mark.parametrize("cls", ARTIFACTS, ids=lambda c: c.__name__)
@FUZZ
@given(data=st.data())
def test_mutated_artifacts_load_or_fail_with_one_line(cls, envelopes, tmp_path, data):
    document = envelopes[cls]
    places = list(_paths(document))
    path = data.draw(st.sampled_from(places), label="path")
    action = data.draw(st.sampled_from(["replace", "delete", "extra"] if path else ["replace"]), label="action")
    new = data.draw(json_values, label="value")
    text = json.dumps(_mutate(document, path, action, new), allow_nan=True)
    if data.draw(st.booleans(), label="truncate"):
        text = text[: data.draw(st.integers(0, len(text)), label="cut")]
    _read(cls, tmp_path / cls.FILENAME, text)


@pytest.mark.timeout(600)
@FUZZ
@given(value=json_values, raw=st.binary(max_size=200), cls=st.sampled_from(ARTIFACTS))
def test_random_json_and_bytes_fail_with_one_line(tmp_path, value, raw, cls):
    _read(cls, tmp_path / cls.FILENAME, json.dumps(value, allow_nan=True))
    _read(cls, tmp_path / cls.FILENAME, json.dumps({"schema": cls.SCHEMA, "schema_version": 1, "data": value}, allow_nan=True))
    _read(cls, tmp_path / cls.FILENAME, raw)


def test_pathological_json_fails_with_one_line(tmp_path):
    path = tmp_path / "media.json"
    for text in ("[" * 100_000 + "]" * 100_000,  # deeper than the parser's recursion limit
                 '{"schema": "narrascore.media", "schema_version": 1, "data": {"duration": ' + "9" * 5000 + "}}",
                 '{"schema": "narrascore.media", "schema_version": 1, "data": {"duration": ' + "9" * 400 + "}}"):
        _read(MediaInfo, path, text)


def _probe(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        info = probe(path)
    except MediaError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and "\n" not in message, message
        return
    assert info.duration > 0 and math.isfinite(info.duration) and info.frame_count >= 1


@pytest.mark.timeout(600)
@FUZZ
@given(data=st.binary(max_size=4096))
def test_random_bytes_into_the_probe(tmp_path, data):
    _probe(tmp_path / "random.mp4", data)


@pytest.mark.timeout(600)
@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_mutated_videos_into_the_probe(short_video, silent_video, tmp_path, data):
    source = data.draw(st.sampled_from([short_video.path, silent_video.path]), label="video").read_bytes()
    blob = bytearray(source)
    for _ in range(data.draw(st.integers(1, 40), label="flips")):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans(), label="truncate"):
        blob = blob[: data.draw(st.integers(0, len(blob)), label="cut")]
    _probe(tmp_path / "mutated.mp4", bytes(blob))


def test_a_file_whose_metadata_is_not_utf8_still_probes(short_video, tmp_path):
    """Found by the fuzzer: one byte of the MP4 brand set to 0x80 made PyAV raise UnicodeDecodeError."""
    blob = bytearray(short_video.path.read_bytes())
    blob[8] = 0x80
    (tmp_path / "brand.mp4").write_bytes(bytes(blob))
    assert probe(tmp_path / "brand.mp4").duration == pytest.approx(4.0)
