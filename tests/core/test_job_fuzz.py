"""Fuzzing job files and settings: any bytes in a .json/.toml job file, any structure in
any section, end in a job or a JobError that names the file, never another exception."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.job_schema import JobError, job_from_dict, load_job
from studio.core.jobs import TrainJob

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SECTIONS = [f.name for f in dataclasses.fields(TrainJob) if f.name != "kind"]
FIELDS = sorted({f.name for s in SECTIONS for f in dataclasses.fields(getattr(TrainJob(), s))})
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                    st.sampled_from(["auto", "cpu", "cuda", "4bit", "fsdp", "oom@3", "x@y", "bundled", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
jobs = st.dictionaries(
    st.sampled_from([*SECTIONS, "kind", "junk"]),
    st.one_of(values, st.dictionaries(st.sampled_from([*FIELDS, "junk"]), values, max_size=6)),
    max_size=5)


@FUZZ
@given(data=jobs)
def test_any_job_structure(data):
    try:
        job_from_dict(data)
    except JobError as exc:
        assert str(exc).strip()


@FUZZ
@given(raw=st.one_of(st.binary(max_size=300), jobs.map(lambda d: json.dumps(d, default=str).encode())),
       suffix=st.sampled_from([".json", ".toml"]))
def test_any_job_file(tmp_path_factory, raw, suffix):
    path = tmp_path_factory.mktemp("jobs") / f"job{suffix}"
    path.write_bytes(raw)
    try:
        load_job(path)
    except JobError as exc:
        assert path.name in str(exc), str(exc)
