"""Inverse-CDF tables for the samplers: plain numpy, built once at import, no numba.

Invariant: every table has ``TABLE + 1`` knots at u = k / TABLE, is non-decreasing, and
depends on nothing but its formula (and, for :func:`power_table`, the config's skew), so
every process builds identical tables.
"""
import numpy as np

TABLE = 4096
"""Inverse-CDF tables have TABLE + 1 knots at u = k / TABLE; draws interpolate between them (log, sqrt, cos and
exp cost ~40 ns per normal draw, a table ~5 ns), and the two end bins, where curves bend, use the exact formula."""


def _normal_quantiles() -> np.ndarray:
    from statistics import NormalDist

    nd = NormalDist()
    q = np.array([nd.inv_cdf(k / TABLE) for k in range(1, TABLE)])
    return np.concatenate([[-np.inf], q, [np.inf]])


_NORMAL_Q = _normal_quantiles()
with np.errstate(divide="ignore"):
    _EXP_Q = -np.log1p(-np.arange(TABLE + 1) / TABLE)  # the last knot is +inf


def power_table(skew: float) -> np.ndarray:
    """Knots of u**skew for :func:`skewed_table` (built once, outside the kernels)."""
    return (np.arange(TABLE + 1) / TABLE) ** skew
