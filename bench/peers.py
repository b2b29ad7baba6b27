#!/usr/bin/env python3
"""Peer throughput for the rsft benchmark tasks: numpy (vectorized rejection) and scipy
(UNU.RAN TDR / PINV), single thread, accepted samples per second (median of repeats).
Prints one JSON object on stdout. Run by bench/peers.js; never needed by the tests."""
import json, math, sys, time

try:
    import numpy as np
except ImportError:
    print(json.dumps({"error": "numpy not installed"}))
    sys.exit(0)

N = int(float(sys.argv[1])) if len(sys.argv) > 1 else 1_000_000
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
rng = np.random.default_rng(7)

LAM = (2 + math.sqrt(8)) / 2
M1 = 2.4576
M2 = 2.4171 * 1.001
M3 = 1.07107053797 * 1.0001
MC = 2 * math.sqrt(2 * math.pi) * 1.001  # custom: sqrt(2 pi)(1 + sin^2 3x) / 1 <= 2 sqrt(2 pi)
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def rejection(n, propose, ratio, m_const, rate):
    """Vectorized rejection as a numpy user writes it: batches sized for the expected
    acceptance, accept u * M <= p(x) / q(x) in linear space (cheaper than logs), concatenate."""
    parts, got = [], 0
    while got < n:
        m = int((n - got) / rate * 1.05) + 1024
        x = propose(m)
        u = rng.random(m)
        acc = x[u * m_const <= ratio(x)]
        parts.append(acc)
        got += acc.size
    return np.concatenate(parts)[:n]


def t1(n):
    def ratio(x):
        y = 1.0 - x
        y *= y
        y *= y  # (1-x)^4 by squaring: numpy's ** 4 goes through pow and is slower
        return 30.0 * x * y
    return rejection(n, lambda m: rng.random(m), ratio, M1, 1 / M1)


SQ = math.sqrt(2 * math.pi)


def t2(n):
    # p(x)/q(x) with q = N(0, 3^2): 3 * (0.3/0.5 e^{-((x+2)/0.5)^2/2} + 0.7 e^{-(x-1.5)^2/2}) / e^{-(x/3)^2/2}
    def ratio(x):
        return 3.0 * (0.6 * np.exp(-0.5 * ((x + 2) / 0.5) ** 2 + 0.5 * (x / 3) ** 2)
                      + 0.7 * np.exp(-0.5 * (x - 1.5) ** 2 + 0.5 * (x / 3) ** 2))
    return rejection(n, lambda m: rng.normal(0.0, 3.0, m), ratio, M2, 1 / M2)


def t3(n):
    # Robert (1995): x = 2 + Exp(lam), accept when u < exp(-(x - lam)^2 / 2).
    parts, got = [], 0
    while got < n:
        m = int((n - got) / 0.93 * 1.05) + 1024
        x = 2.0 + rng.exponential(1.0 / LAM, m)
        u = rng.random(m)
        acc = x[u < np.exp(-0.5 * (x - LAM) ** 2)]
        parts.append(acc)
        got += acc.size
    return np.concatenate(parts)[:n]


def custom(n):
    # target exp(-x^2/2 + log(1 + sin(3x)^2)) from N(0,1): p/q = sqrt(2 pi) (1 + sin(3x)^2)
    return rejection(n, lambda m: rng.standard_normal(m), lambda x: SQ * (1.0 + np.sin(3 * x) ** 2), MC, 1 / 2.0)


def median_rate(fn, n):
    fn(min(n, 100_000))  # warm up
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        out = fn(n)
        times.append(time.perf_counter() - t0)
        assert out.size == n
    times.sort()
    return n / times[len(times) // 2]


results = {"numpy": np.__version__, "python": sys.version.split()[0], "n": N, "rates": {}}
for name, fn in [("T1", t1), ("T2", t2), ("T3", t3), ("custom", custom)]:
    results["rates"][f"numpy:{name}"] = median_rate(fn, N)

try:
    import scipy
    from scipy.stats import sampling, beta, norm
    results["scipy"] = scipy.__version__

    class Mix:
        def pdf(self, x):
            return 0.3 * norm.pdf(x, -2, 0.5) + 0.7 * norm.pdf(x, 1.5, 1)

        def cdf(self, x):
            return 0.3 * norm.cdf(x, -2, 0.5) + 0.7 * norm.cdf(x, 1.5, 1)

    class Beta25:
        def pdf(self, x):
            return 30.0 * x * (1 - x) ** 4

        def dpdf(self, x):
            return 30.0 * ((1 - x) ** 4 - 4 * x * (1 - x) ** 3)

    class Tail:
        def pdf(self, x):
            return math.exp(-0.5 * x * x)

        def dpdf(self, x):
            return -x * math.exp(-0.5 * x * x)

    gens = {
        "tdr:T1": sampling.TransformedDensityRejection(Beta25(), domain=(0, 1), random_state=rng),
        "pinv:T1": sampling.NumericalInversePolynomial(beta(2, 5), random_state=rng),
        "pinv:T2": sampling.NumericalInversePolynomial(Mix(), domain=(-12, 14), random_state=rng),
        "tdr:T3": sampling.TransformedDensityRejection(Tail(), domain=(2, np.inf), random_state=rng),
    }
    for key, g in gens.items():
        results["rates"][f"scipy:{key}"] = median_rate(lambda n, g=g: g.rvs(n), N)
except ImportError:
    results["scipy"] = None

print(json.dumps(results))
