"""The direct CSR construction of the networks is bit-identical to the plain scipy construction
(COO -> CSR, sum_duplicates, diags(1/rowsum) @ W), entry for entry and in the same order, since
the neighbour sums of the choice kernel follow the order of W's entries."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adoptsim.core import network


def _both(monkeypatch, build):
    fast = build()
    monkeypatch.setattr(network, "normalised", network.normalised_reference)
    ref = build()
    monkeypatch.undo()
    return fast, ref


def _identical(a, b) -> bool:
    return (np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
            and np.array_equal(a.data, b.data) and a.shape == b.shape)


@pytest.mark.parametrize("n, degree", [(2, 1), (333, 1), (999, 7), (5000, 8), (20_000, 12)])
@pytest.mark.parametrize("kind", ["regional", "small_world"])
def test_direct_csr_equals_the_scipy_construction(monkeypatch, n, degree, kind):
    rng = np.random.default_rng(n)
    nation = np.sort(rng.integers(0, 33, n))
    sizes = rng.random(n) * 3 + 0.5

    def build():
        return network.build_network(kind, nation, nation % 7, sizes, degree=degree, cross_border=0.3,
                                     same_region=0.5, rewire=0.3, rng=np.random.default_rng(5))
    fast, ref = _both(monkeypatch, build)
    assert _identical(fast, ref)
    assert fast.indices.dtype == np.int32
    sums = np.asarray(fast.sum(axis=1)).ravel()
    assert np.allclose(sums[sums > 0], 1.0)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), width=st.integers(1, 9), seed=st.integers(0, 2**31))
def test_repeated_and_self_ties(n, width, seed):
    """Few communities and many ties: repeated ties, self-ties, rows left empty."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), width)
    cols = rng.integers(0, n, rows.size)
    sizes = rng.random(n) + 0.1
    assert _identical(network.normalised(rows, cols, sizes, n),
                      network.normalised_reference(rows, cols, sizes, n))


@pytest.mark.parametrize("n, degree", [(2, 1), (999, 7), (5000, 8), (3001, 12)])
@pytest.mark.parametrize("kind", ["regional", "small_world"])
@pytest.mark.parametrize("sizes_kind", ["random", "per_nation"])
def test_compiled_chunked_builder_equals_the_numpy_one(monkeypatch, n, degree, kind, sizes_kind):
    """Large networks are built by the compiled, chunked builder (here forced on small ones, with
    chunks of 256 rows): the same matrix bit for bit, and the random stream left where the
    numpy construction leaves it — reading the nations' and regions' orders from the arrays
    (n = 999: 33 nations are too many runs) or from their runs; sizes random or equal within a
    nation, as the layout makes them."""
    rng = np.random.default_rng(n + degree)
    nation = np.sort(rng.integers(0, 33, n))
    sizes = rng.random(n) * 3 + 0.5 if sizes_kind == "random" else (nation + 1) * 0.37
    built = {}
    for compiled in (False, True):
        monkeypatch.setattr(network, "COMPILED_FROM", 1 if compiled else 10**12)
        monkeypatch.setattr(network, "CHUNK_ROWS", 256)
        g = np.random.default_rng(9)
        W = network.build_network(kind, nation, nation % 7, sizes, degree=degree, cross_border=0.3,
                                  same_region=0.5, rewire=0.3, rng=g)
        built[compiled] = (W, g.random(4))
    assert _identical(built[True][0], built[False][0])
    assert np.array_equal(built[True][1], built[False][1])
    assert built[True][0].indices.dtype == np.int32
    if n == 5000:  # the runs were used
        order, start, count = network._group_offsets(nation % 7, 7)
        assert network.runs(order, start, count)[0].size > 0
