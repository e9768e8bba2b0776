"""The tests behind "what changed": exact binomial tails, a rate-ratio test, a proportion test.

Why these tests:
- Two Poisson counts over windows of different lengths are compared exactly by
  conditioning on their sum: under "same rate", the after-window count is
  Binomial(n = a + b, p = T_a / (T_a + T_b)) (the conditional test of Przyborowski and
  Wilenski, the standard comparison of two Poisson rates). It needs no large counts.
- Log lines are not independent (a retry storm emits hundreds in one second), so a plain
  Poisson test calls every burst "significant". The counts are divided by a dispersion
  factor phi = variance / mean of the pattern's own bucketed counts in the baseline
  (quasi-Poisson): a bursty pattern needs a proportionally larger shift to count.
- Pure Python (a Lentz continued fraction for the regularized incomplete beta): a call
  tests a few hundred candidates, well under a millisecond each, and it spares the
  package a SciPy dependency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["betainc", "binom_sf", "binom_cdf", "norm_sf", "RateTest", "rate_test", "proportion_test"]

_EPS = 1e-15
_TINY = 1e-300


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b), for real a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def binom_sf(k: float, n: float, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p); k and n may be non-integer (scaled counts)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return betainc(k, n - k + 1.0, p)


def binom_cdf(k: float, n: float, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k >= n:
        return 1.0
    if k < 0:
        return 0.0
    return betainc(n - k, k + 1.0, 1.0 - p)


def norm_sf(z: float) -> float:
    """Upper tail of the standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


@dataclass(frozen=True, slots=True)
class RateTest:
    ratio: float      # after rate / before rate (with a half-count so zero stays finite)
    p_up: float       # one-sided p-value for "the rate rose"
    p_down: float     # one-sided p-value for "the rate fell"
    expected: float   # after-window count expected from the baseline rate
    excess: float     # after count minus expected (negative when it fell)


def rate_test(after: float, before: float, t_after: float, t_before: float, phi: float = 1.0) -> RateTest:
    """Compare two counts over windows of lengths ``t_after`` and ``t_before`` (any unit).

    ``phi`` >= 1 is the over-dispersion of the counts (variance / mean); both counts are
    divided by it before the conditional binomial test (quasi-Poisson).
    """
    phi = max(1.0, phi)
    p = t_after / (t_after + t_before)
    a, n = after / phi, (after + before) / phi
    expected = before * t_after / t_before if t_before > 0 else 0.0
    ratio = ((after + 0.5) / t_after) / ((before + 0.5) / t_before)
    if n <= 0:
        return RateTest(ratio, 1.0, 1.0, expected, after - expected)
    return RateTest(ratio, binom_sf(a, n, p), binom_cdf(a, n, p), expected, after - expected)


def proportion_test(x_after: float, n_after: float, x_before: float, n_before: float,
                    phi: float = 1.0) -> tuple[float, float]:
    """Two-proportion z-test (pooled), variance inflated by ``phi``; returns (z, two-sided p)."""
    if n_after <= 0 or n_before <= 0:
        return 0.0, 1.0
    pooled = (x_after + x_before) / (n_after + n_before)
    var = pooled * (1.0 - pooled) * (1.0 / n_after + 1.0 / n_before) * max(1.0, phi)
    if var <= 0:
        return 0.0, 1.0
    z = (x_after / n_after - x_before / n_before) / math.sqrt(var)
    return z, 2.0 * norm_sf(abs(z))
