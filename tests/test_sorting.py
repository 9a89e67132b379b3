import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from toklab.sorting import distinct


@given(hnp.arrays(np.int64, st.tuples(st.integers(0, 5), st.integers(0, 40)),
                  elements=st.integers(-(2**62), 2**62)))  # fmt: skip
def test_distinct_is_numpys_unique(values):
    got = distinct(values)
    assert got.dtype == values.dtype and got.tolist() == np.unique(values).tolist()


@given(st.lists(st.integers(-(2**62), 2**62), max_size=60))
def test_distinct_of_sorted_values_is_a_copy(values):
    ordered = np.array(sorted(set(values)), dtype=np.int64)
    got = distinct(ordered)
    assert got.tolist() == ordered.tolist() and not np.shares_memory(got, ordered)
