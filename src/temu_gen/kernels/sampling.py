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
from .tables import _EXP_Q, _NORMAL_Q, TABLE  # noqa: E402 - next to their users' constants


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
def _tail_normal(p):
    """Standard normal quantile for p in the outer bins (Acklam's rational approximation, |error| < 1.2e-9)."""
    c0, c1, c2, c3, c4, c5 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, \
        -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00
    d0, d1, d2, d3 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00
    lower = p < 0.5
    pp = p if lower else 1.0 - p
    if pp <= 0.0:
        pp = 1e-300
    q = math.sqrt(-2.0 * math.log(pp))
    z = (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) / ((((d0 * q + d1) * q + d2) * q + d3) * q + 1.0)
    return z if lower else -z


@jit
def normal(state):
    """A standard normal draw by table inversion (see :data:`TABLE`)."""
    x = uniform(state) * TABLE
    k = int(x)
    if k == 0 or k >= TABLE - 1:
        return _tail_normal(x / TABLE)
    return _NORMAL_Q[k] + (x - k) * (_NORMAL_Q[k + 1] - _NORMAL_Q[k])


@jit
def exponential_fast(state, mean):
    """An exponential draw with the given mean, by table inversion (the last bin exact)."""
    u = uniform(state)
    x = u * TABLE
    k = int(x)
    if k >= TABLE - 1:
        return -mean * math.log(1.0 - u)
    return mean * (_EXP_Q[k] + (x - k) * (_EXP_Q[k + 1] - _EXP_Q[k]))


@jit
def lognormal_fast(state, median, sigma):
    """A lognormal draw (the normal part by table inversion)."""
    return median * math.exp(sigma * normal(state))


@jit
def skewed_table(state, n, table):
    """An index in [0, n) from a power-law head: ``table`` holds u**skew at the TABLE + 1 knots."""
    x = uniform(state) * TABLE
    k = int(x)
    v = table[k] + (x - k) * (table[k + 1] - table[k])
    i = int(n * v)
    return i if i < n else n - 1


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
def poisson_small(state, mean):
    """A Poisson draw for small means (Knuth's product of uniforms)."""
    limit = math.exp(-mean)
    k = 0
    prod = uniform(state)
    while prod > limit:
        k += 1
        prod *= uniform(state)
    return k


@jit
def skewed_index(state, n, skew):
    """An index in [0, n) where small indices are more likely (``skew`` > 1 = heavier head)."""
    i = int(n * uniform(state) ** skew)
    return i if i < n else n - 1


@jit
def lognormal(state, median, sigma):
    """A lognormal draw with the given median and log-scale spread (heavy right tail)."""
    return median * math.exp(sigma * std_normal(state))


@jit
def mix_seed(seed, a, b):
    """A stream seed for (seed, a, b): pure, and distinct inputs give unrelated streams."""
    return mix64(mix64(np.uint64(seed) ^ (np.uint64(a) * _GAMMA)) ^ (np.uint64(b) + _GAMMA))


@jit
def radical_inverse(i):
    """Van der Corput point ``i`` in base 2 (bits of ``i`` mirrored after the binary point).

    The first n points spread evenly over [0, 1) for every n, so a population can grow
    by more users without moving the ones it already has.
    """
    x = np.uint64(i)
    x = ((x >> np.uint64(1)) & np.uint64(0x5555555555555555)) | ((x & np.uint64(0x5555555555555555)) << np.uint64(1))
    x = ((x >> np.uint64(2)) & np.uint64(0x3333333333333333)) | ((x & np.uint64(0x3333333333333333)) << np.uint64(2))
    x = ((x >> np.uint64(4)) & np.uint64(0x0F0F0F0F0F0F0F0F)) | ((x & np.uint64(0x0F0F0F0F0F0F0F0F)) << np.uint64(4))
    x = ((x >> np.uint64(8)) & np.uint64(0x00FF00FF00FF00FF)) | ((x & np.uint64(0x00FF00FF00FF00FF)) << np.uint64(8))
    x = ((x >> np.uint64(16)) & np.uint64(0x0000FFFF0000FFFF)) | ((x & np.uint64(0x0000FFFF0000FFFF)) << np.uint64(16))
    x = (x >> np.uint64(32)) | (x << np.uint64(32))
    return float(x >> _S11) * _INV_2_53
