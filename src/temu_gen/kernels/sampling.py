"""In-kernel random draws on an explicit splitmix64 state.

Invariant: every draw is a pure function of the state it is handed, so a kernel's
output depends only on the seeds it was called with. The state is a one-element
``uint64`` array owned by the caller; nothing here touches a global generator, which
is also why the jitted code and its ``py_func`` produce the same numbers.
"""
import math

import numpy as np

from ._jit import jit

_GAMMA = np.uint64(0x9E3779B97F4A7C15)  # golden-ratio increment of splitmix64
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV_2_53 = 1.0 / 9007199254740992.0  # 53 random bits -> [0, 1)


@jit
def mix64(x):
    """Scramble a uint64 with splitmix64's finaliser: a bijection, so distinct inputs stay distinct."""
    z = np.uint64(x)
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@jit
def seed_state(state, seed, index):
    """Point ``state`` at the stream for entity ``index`` under ``seed`` (pure in both)."""
    state[0] = mix64(np.uint64(seed) ^ (np.uint64(index) * _GAMMA))


@jit
def next_u64(state):
    """Advance the state and return 64 random bits."""
    state[0] += _GAMMA
    return mix64(state[0])


@jit
def uniform(state):
    """A float in [0, 1)."""
    return float(next_u64(state) >> _S11) * _INV_2_53


@jit
def uniform_range(state, lo, hi):
    """A float in [lo, hi)."""
    return lo + (hi - lo) * uniform(state)


@jit
def bernoulli(state, p):
    """True with probability ``p``."""
    return uniform(state) < p


@jit
def exponential(state, mean):
    """An exponential draw with the given mean."""
    return -mean * math.log(1.0 - uniform(state))


@jit
def std_normal(state):
    """A standard normal draw (Box-Muller; one of the pair is discarded for simplicity)."""
    u1 = 1.0 - uniform(state)
    u2 = uniform(state)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


@jit
def geometric(state, mean):
    """A count >= 0 with the given mean (geometric on {0, 1, ...})."""
    if mean <= 0.0:
        return 0
    q = mean / (1.0 + mean)
    return int(math.floor(math.log(1.0 - uniform(state)) / math.log(q)))


@jit
def categorical(state, cum, lo, hi):
    """Index in [lo, hi) drawn from the cumulative weights ``cum[lo:hi]``.

    ``cum`` holds per-segment cumulative probabilities ending at 1.0, so several
    ragged distributions share one flat array (offsets are the caller's).
    """
    u = uniform(state)
    a = lo
    b = hi - 1
    while a < b:
        m = (a + b) >> 1
        if cum[m] > u:
            b = m
        else:
            a = m + 1
    return a


@jit
def skewed_index(state, n, skew):
    """An index in [0, n) where small indices are more likely (``skew`` > 1 = heavier head)."""
    i = int(n * uniform(state) ** skew)
    return i if i < n else n - 1
