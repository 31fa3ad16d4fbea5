"""Property: any bytes through admit + decode give an image within the caps, or a 4xx CutoutError.

`make test` runs a fixed, derandomized set of examples; `make fuzz` runs many more
(CUTOUT_FUZZ_EXAMPLES) with fresh randomness, then the atheris harness when it is installed.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.hardening import mutations as m

_FUZZ_EXAMPLES = int(os.environ.get("CUTOUT_FUZZ_EXAMPLES", "0") or 0)
settings.register_profile(
    "cutout",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "cutout-fuzz",
    derandomize=False,
    deadline=None,
    max_examples=max(_FUZZ_EXAMPLES, 1),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("cutout-fuzz" if _FUZZ_EXAMPLES else "cutout")

positions = st.integers(min_value=0, max_value=1 << 16)
small_payloads = st.binary(min_size=1, max_size=16)


def mutation() -> st.SearchStrategy[tuple[str, tuple[object, ...]]]:
    """One named mutation with its parameters (named, so a failure reads well)."""
    return st.one_of(
        st.tuples(st.just("flip_bit"), st.tuples(positions, st.integers(0, 7))),
        st.tuples(st.just("overwrite"), st.tuples(positions, small_payloads)),
        st.tuples(
            st.just("put_integer"),
            st.tuples(
                positions, st.sampled_from(m.INTERESTING), st.sampled_from((1, 2, 4)), st.booleans()
            ),
        ),
        st.tuples(st.just("truncate"), st.tuples(positions)),
        st.tuples(st.just("insert"), st.tuples(positions, small_payloads)),
        st.tuples(st.just("delete"), st.tuples(positions, st.integers(1, 64))),
        st.tuples(
            st.just("duplicate"),
            st.tuples(positions, st.integers(1, 64), st.integers(2, 8)),
        ),
        st.tuples(
            st.just("splice"),
            st.tuples(st.sampled_from(m.seeds()), positions, positions),
        ),
        st.tuples(
            st.just("mutate_png_chunk"),
            st.tuples(st.integers(0, 8), positions, small_payloads),
        ),
    )


def apply(data: bytes, steps: list[tuple[str, tuple[object, ...]]]) -> bytes:
    for name, params in steps:
        data = getattr(m, name)(data, *params)
    return data


mutated_images = st.builds(
    apply, st.sampled_from(m.seeds()), st.lists(mutation(), min_size=1, max_size=4)
)


@settings(PROFILE)
@given(st.binary(max_size=4096))
def test_random_bytes_are_an_image_or_our_error(data: bytes) -> None:
    m.admit_and_decode(data)


@settings(PROFILE)
@given(mutated_images)
def test_mutated_real_images_are_an_image_or_our_error(data: bytes) -> None:
    m.admit_and_decode(data)


def test_every_seed_decodes_untouched() -> None:
    """The mutations start from valid files, so they explore past the signature checks."""
    for seed in m.seeds():
        assert m.admit_and_decode(seed).size is not None
