"""core.articles: "an 80 GiB card", never "a 80 GiB card"."""

from __future__ import annotations

import pytest

from studio.core.articles import a_or_an


@pytest.mark.parametrize(("phrase", "said"), [
    ("80 GiB card", "an 80 GiB card"), ("8 GiB card", "an 8 GiB card"), ("11 GiB card", "an 11 GiB card"),
    ("18 GiB card", "an 18 GiB card"), ("24 GiB card", "a 24 GiB card"), ("141 GiB card", "a 141 GiB card"),
    ("180 GiB card", "a 180 GiB card"), ("H200", "an H200"), ("NVIDIA H100", "an NVIDIA H100"),
    ("RTX 4090", "an RTX 4090"), ("GPU", "a GPU"), ("encoder-only model", "an encoder-only model"),
    ("state-space model", "a state-space model"), ("user", "a user"), ("hour", "an hour"),
])
def test_a_or_an_follows_how_the_phrase_is_spoken(phrase, said):
    assert a_or_an(phrase) == said
