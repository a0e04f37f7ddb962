"""The filter chain decides as it did before issue #31 (tokenise once, compact keys between
stages), sample by sample, on the benchmark's corpus and on random text (`chain_decisions.py`)."""

import json

import pytest

from chain_decisions import CONFIGS, EXPECTED, run


@pytest.mark.parametrize("corpus", sorted(CONFIGS))
def test_chain_decides_as_pinned(corpus, tmp_path):
    expected = json.loads(EXPECTED.read_text())[corpus]
    found = run(corpus, tmp_path)
    changed = {rid: (expected.get(rid), found.get(rid)) for rid in set(expected) | set(found)
               if expected.get(rid) != found.get(rid)}
    assert not changed, f"{len(changed)} decisions changed, e.g. {sorted(changed.items())[:5]}"
