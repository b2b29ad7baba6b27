use super::*;

const INF: f64 = f64::INFINITY;

fn dist(p: &[f64]) -> Dist {
    match Dist::decode(p) {
        Ok(d) => d,
        Err(e) => panic!("decode {p:?}: {e}"),
    }
}

fn draw(p: &[f64], n: usize, seed: u64) -> Vec<f64> {
    let d = dist(p);
    let mut out = vec![0.0; n * d.dim()];
    let mut rng = Stream::new(seed, 7, 0);
    d.sample(&mut rng, &mut out);
    out
}

/// Kolmogorov-Smirnov statistic of `xs` against `cdf`.
fn ks(xs: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len() as f64;
    let mut d: f64 = 0.0;
    for (i, &x) in v.iter().enumerate() {
        let f = cdf(x);
        d = d.max((f - i as f64 / n).abs()).max(((i + 1) as f64 / n - f).abs());
    }
    d
}

/// Critical value at significance ~0.001 (1.95 / sqrt(n)).
fn ks_crit(n: usize) -> f64 {
    1.95 / (n as f64).sqrt()
}

fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let m = xs.iter().sum::<f64>() / n;
    let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0);
    (m, v)
}

const N: usize = 40_000;

/// 1-D programs exercised by the KS / density tests, with a length scale for quadrature.
fn one_d_cases() -> Vec<(&'static str, Vec<f64>, f64)> {
    let mix = vec![21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0];
    let mut tmix = vec![20.0, 3.0, INF];
    tmix.extend_from_slice(&mix);
    let mut tmix2 = vec![20.0, -1.0, 0.0];
    tmix2.extend_from_slice(&mix);
    vec![
        ("uniform", vec![1.0, -2.0, 3.0], 1.0),
        ("normal", vec![2.0, 1.0, 2.0], 2.0),
        ("lognormal", vec![3.0, 0.2, 0.5], 1.0),
        ("exponential", vec![4.0, 2.5], 0.5),
        ("gamma 2.5", vec![5.0, 2.5, 2.0], 1.0),
        ("gamma 0.3", vec![5.0, 0.3, 1.0], 1.0),
        ("gamma 1", vec![5.0, 1.0, 3.0], 1.0),
        ("gamma 40", vec![5.0, 40.0, 0.5], 50.0),
        ("beta 2 5", vec![6.0, 2.0, 5.0], 1.0),
        ("beta 0.5 0.3", vec![6.0, 0.5, 0.3], 1.0),
        ("beta 0.7 3", vec![6.0, 0.7, 3.0], 1.0),
        ("t 5", vec![7.0, 5.0, 1.0, 2.0], 2.0),
        ("t 0.8", vec![7.0, 0.8, 0.0, 1.0], 1.0),
        ("cauchy", vec![8.0, 1.0, 0.5], 0.5),
        ("laplace", vec![9.0, -1.0, 2.0], 2.0),
        ("logistic", vec![10.0, 0.5, 1.5], 1.5),
        ("trunc normal [8,inf)", vec![20.0, 8.0, INF, 2.0, 0.0, 1.0], 1.0),
        ("trunc normal [30,inf)", vec![20.0, 30.0, INF, 2.0, 0.0, 1.0], 1.0),
        ("trunc normal (-inf,-3]", vec![20.0, -INF, -3.0, 2.0, 0.0, 1.0], 1.0),
        ("trunc normal [-1,2] (rejection)", vec![20.0, -1.0, 2.0, 2.0, 0.0, 1.0], 1.0),
        ("trunc gamma [2,4]", vec![20.0, 2.0, 4.0, 5.0, 2.5, 1.0], 1.0),
        ("trunc beta [0.9,1]", vec![20.0, 0.9, 1.0, 6.0, 2.0, 5.0], 1.0),
        ("trunc t [10,inf)", vec![20.0, 10.0, INF, 7.0, 3.0, 0.0, 1.0], 10.0),
        ("trunc cauchy [5,50]", vec![20.0, 5.0, 50.0, 8.0, 0.0, 1.0], 10.0),
        ("trunc exponential [3,inf)", vec![20.0, 3.0, INF, 4.0, 1.0], 1.0),
        ("trunc laplace (-inf,-6]", vec![20.0, -INF, -6.0, 9.0, 0.0, 1.0], 1.0),
        ("trunc logistic [4,5]", vec![20.0, 4.0, 5.0, 10.0, 0.0, 1.0], 1.0),
        ("trunc lognormal [4,inf)", vec![20.0, 4.0, INF, 3.0, 0.0, 0.5], 1.0),
        ("trunc uniform [0.5,0.6]", vec![20.0, 0.5, 0.6, 1.0, 0.0, 1.0], 0.1),
        ("mixture", mix, 1.0),
        ("trunc mixture [3,inf)", tmix, 1.0),
        ("trunc mixture [-1,0]", tmix2, 1.0),
        ("trunc of trunc", vec![20.0, 2.5, 3.0, 20.0, 2.0, INF, 2.0, 0.0, 1.0], 1.0),
    ]
}

#[test]
fn ks_one_dimensional() {
    let mut fails = Vec::new();
    for (i, (name, p, _)) in one_d_cases().into_iter().enumerate() {
        let d = dist(&p);
        let xs = draw(&p, N, 100 + i as u64);
        let (lo, hi) = d.support();
        assert!(xs.iter().all(|&x| x >= lo && x <= hi), "{name}: sample outside support");
        let stat = ks(&xs, |x| d.cdf(x));
        eprintln!("{name:32} KS D = {stat:.5} (crit {:.5})", ks_crit(N));
        if !(stat < ks_crit(N)) {
            fails.push(format!("{name}: D = {stat}"));
        }
    }
    assert!(fails.is_empty(), "{fails:?}");
}

#[test]
fn moments() {
    let cases: &[(&[f64], f64, f64)] = &[
        (&[1.0, -2.0, 3.0], 0.5, 25.0 / 12.0),
        (&[2.0, 1.0, 2.0], 1.0, 4.0),
        (&[4.0, 2.5], 0.4, 0.16),
        (&[5.0, 2.5, 2.0], 1.25, 2.5 / 4.0),
        (&[5.0, 0.3, 1.0], 0.3, 0.3),
        (&[6.0, 2.0, 5.0], 2.0 / 7.0, 10.0 / (49.0 * 8.0)),
        (&[6.0, 0.5, 0.3], 0.5 / 0.8, 0.15 / (0.64 * 1.8)),
        (&[7.0, 5.0, 1.0, 2.0], 1.0, 4.0 * 5.0 / 3.0),
        (&[9.0, -1.0, 2.0], -1.0, 8.0),
        (&[10.0, 0.5, 1.5], 0.5, 2.25 * PI * PI / 3.0),
        // scipy truncnorm(8, inf): mean 8.12136811223618, var 0.014324883442787484
        (&[20.0, 8.0, INF, 2.0, 0.0, 1.0], 8.12136811223618, 0.014324883442787484),
        // truncnorm(30, inf).mean() = 30.033259667436372; var ~ 1/30^2 roughly 0.00110
        (&[20.0, 30.0, INF, 2.0, 0.0, 1.0], 30.033259667436372, f64::NAN),
        (&[20.0, -INF, -3.0, 2.0, 0.0, 1.0], -3.28309865493044, f64::NAN),
        (&[21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0], 0.3 * -2.0 + 0.7 * 1.5, 0.3 * (0.25 + 4.0) + 0.7 * (1.0 + 2.25) - 0.45 * 0.45),
    ];
    let n = 200_000;
    for (i, &(p, m, v)) in cases.iter().enumerate() {
        let xs = draw(p, n, 900 + i as u64);
        let (sm, sv) = mean_var(&xs);
        let se = (if v.is_nan() { sv } else { v } / n as f64).sqrt();
        assert!((sm - m).abs() < 5.0 * se, "{p:?}: mean {sm}, want {m} (se {se})");
        if !v.is_nan() {
            assert!((sv - v).abs() < 0.05 * v, "{p:?}: var {sv}, want {v}");
        }
    }
}

#[test]
fn multivariate_marginals_and_independence() {
    let n = 20_000;
    // product: column 0 normal(0,1), column 1 exponential(1)
    let p = [22.0, 2.0, 2.0, 0.0, 1.0, 4.0, 1.0];
    let d = dist(&p);
    assert_eq!(d.dim(), 2);
    let xs = draw(&p, n, 1);
    let c0: Vec<f64> = xs.chunks(2).map(|r| r[0]).collect();
    let c1: Vec<f64> = xs.chunks(2).map(|r| r[1]).collect();
    assert!(ks(&c0, sp::ndtr) < ks_crit(n));
    assert!(ks(&c1, |x| if x > 0.0 { 1.0 - (-x).exp() } else { 0.0 }) < ks_crit(n));
    // mvnormal
    let p = [23.0, 2.0, 1.0, -1.0, 2.0, 0.5];
    let xs = draw(&p, n, 2);
    let c0: Vec<f64> = xs.chunks(2).map(|r| r[0]).collect();
    let c1: Vec<f64> = xs.chunks(2).map(|r| r[1]).collect();
    assert!(ks(&c0, |x| sp::ndtr((x - 1.0) / 2.0)) < ks_crit(n));
    assert!(ks(&c1, |x| sp::ndtr((x + 1.0) / 0.5)) < ks_crit(n));
    let corr: f64 = c0.iter().zip(&c1).map(|(a, b)| (a - 1.0) / 2.0 * (b + 1.0) / 0.5).sum::<f64>() / n as f64;
    assert!(corr.abs() < 0.03, "corr {corr}");
    // 2-D mixture of mvnormals
    let p = [21.0, 2.0, 0.25, 0.75, 23.0, 2.0, 0.0, 0.0, 1.0, 1.0, 23.0, 2.0, 3.0, -3.0, 1.0, 1.0];
    let d = dist(&p);
    assert_eq!(d.dim(), 2);
    let xs = draw(&p, n, 3);
    let c0: Vec<f64> = xs.chunks(2).map(|r| r[0]).collect();
    assert!(ks(&c0, |x| 0.25 * sp::ndtr(x) + 0.75 * sp::ndtr(x - 3.0)) < ks_crit(n));
    // rows come from one component: cov(x0, x1) = 0.75 (-9) - 2.25 (-2.25) = -1.6875
    // (0 if the columns picked components independently)
    let (m0, m1) = (c0.iter().sum::<f64>() / n as f64, xs.chunks(2).map(|r| r[1]).sum::<f64>() / n as f64);
    let cov = xs.chunks(2).map(|r| (r[0] - m0) * (r[1] - m1)).sum::<f64>() / n as f64;
    assert!((cov + 1.6875).abs() < 0.15, "cov {cov}");
}

/// ∫ exp(logpdf) over the support, midpoint rule after x = c + s tan(θ) (or directly on a
/// finite interval).
fn integrate_1d(d: &Dist, scale: f64) -> f64 {
    let (a, b) = d.support();
    let m = 400_000;
    let mut s = 0.0;
    if a.is_finite() && b.is_finite() {
        let h = (b - a) / m as f64;
        for i in 0..m {
            s += d.logpdf_one(a + (i as f64 + 0.5) * h).exp() * h;
        }
        return s;
    }
    let c = if a.is_finite() { a } else if b.is_finite() { b } else { 0.0 };
    let (t0, t1) = if a.is_finite() {
        (0.0, PI / 2.0)
    } else if b.is_finite() {
        (-PI / 2.0, 0.0)
    } else {
        (-PI / 2.0, PI / 2.0)
    };
    let h = (t1 - t0) / m as f64;
    for i in 0..m {
        let th = t0 + (i as f64 + 0.5) * h;
        let x = c + scale * th.tan();
        let jac = scale / (th.cos() * th.cos());
        let v = d.logpdf_one(x).exp() * jac;
        if v.is_finite() {
            s += v * h;
        }
    }
    s
}

#[test]
fn logpdf_integrates_to_one() {
    for (name, p, scale) in one_d_cases() {
        let d = dist(&p);
        // integrable singularities at the boundary: checked against the cdf instead below
        let singular = matches!(&d, Dist::Gamma { shape, .. } if *shape < 1.0)
            || matches!(&d, Dist::Beta { a, b, .. } if *a < 1.0 || *b < 1.0);
        if singular {
            continue;
        }
        let z = integrate_1d(&d, scale);
        eprintln!("{name:32} integral {z:.8}");
        assert!((z - 1.0).abs() < 2e-4, "{name}: integral {z}");
    }
    // 2-D: product and mvnormal, grid after tan mapping
    for p in [vec![22.0, 2.0, 2.0, 0.0, 1.0, 9.0, 0.0, 1.0], vec![23.0, 2.0, 0.5, -1.0, 1.0, 2.0]] {
        let d = dist(&p);
        let m = 1500;
        let h = PI / m as f64;
        let mut rows = Vec::with_capacity(m * m * 2);
        let mut jac = Vec::with_capacity(m * m);
        for i in 0..m {
            for j in 0..m {
                let a = -PI / 2.0 + (i as f64 + 0.5) * h;
                let b = -PI / 2.0 + (j as f64 + 0.5) * h;
                rows.push(a.tan());
                rows.push(b.tan());
                jac.push(1.0 / (a.cos() * a.cos() * b.cos() * b.cos()));
            }
        }
        let mut lp = vec![0.0; m * m];
        d.logpdf(&rows, &mut lp);
        let z: f64 = lp.iter().zip(&jac).map(|(l, j)| l.exp() * j * h * h).filter(|v| v.is_finite()).sum();
        assert!((z - 1.0).abs() < 1e-3, "{p:?}: integral {z}");
    }
}

#[test]
fn logpdf_matches_cdf_derivative() {
    for (name, p, _) in one_d_cases() {
        let d = dist(&p);
        let (a, b) = d.support();
        for k in 1..20 {
            let u = k as f64 / 20.0;
            let x = d.ppf_in(u, a, b);
            if !x.is_finite() {
                continue;
            }
            let h = 1e-6 * x.abs().max(1e-3).min(if b.is_finite() && a.is_finite() { (b - a) * 0.01 } else { INF });
            if x - h < a || x + h > b {
                continue;
            }
            let num = (d.cdf(x + h) - d.cdf(x - h)) / (2.0 * h);
            let dens = d.logpdf_one(x).exp();
            assert!((num - dens).abs() <= 1e-5 * dens.max(1e-12) + 1e-9, "{name} at {x}: cdf' {num}, pdf {dens}");
            // quantile round trip, both tails
            let f = d.cdf(x);
            assert!((f - u).abs() < 1e-9, "{name}: cdf(ppf({u})) = {f}");
            let xs = d.isf_in(1.0 - u, a, b);
            assert!((xs - x).abs() <= 1e-7 * x.abs().max(1.0), "{name}: isf {xs} vs ppf {x}");
        }
    }
}

#[test]
fn batch_and_single_draws_agree_and_are_deterministic() {
    for (_, p, _) in one_d_cases() {
        let d = dist(&p);
        let mut r1 = Stream::new(5, 9, 0);
        let mut r2 = Stream::new(5, 9, 0);
        let mut a = vec![0.0; 1000];
        d.sample(&mut r1, &mut a);
        let mut b = vec![0.0; 1000];
        for chunk in b.chunks_mut(37) {
            d.sample(&mut r2, chunk);
        }
        assert_eq!(a, b, "{p:?}");
        let mut r3 = Stream::new(5, 9, 0);
        let mut c = vec![0.0; 1000];
        d.sample(&mut r3, &mut c);
        assert_eq!(a, c);
    }
}

#[test]
fn far_tails() {
    // normal(0,1) truncated to [30, inf): all samples in [30, 30.5), log density finite
    let xs = draw(&[20.0, 30.0, INF, 2.0, 0.0, 1.0], 10_000, 3);
    assert!(xs.iter().all(|&x| (30.0..30.5).contains(&x)));
    let d = dist(&[20.0, 30.0, INF, 2.0, 0.0, 1.0]);
    let mut lp = vec![0.0; 3];
    d.logpdf(&[29.0, 30.0, 30.1], &mut lp);
    assert_eq!(lp[0], f64::NEG_INFINITY);
    // density at lo of the truncated normal = 1 / Mills ratio(30) ~ 30.0333
    assert!((lp[1] - 30.033259667436372f64.ln()).abs() < 1e-3, "{}", lp[1]);
    // ... and [-inf, -37]
    let xs = draw(&[20.0, -INF, -37.0, 2.0, 0.0, 1.0], 1000, 4);
    assert!(xs.iter().all(|&x| x <= -37.0 && x > -38.0));
}

#[test]
fn ziggurat_tables() {
    let t = zig();
    assert_eq!(t.x[1], ZIG_R);
    assert_eq!(t.x[256], 0.0);
    for i in 1..256 {
        assert!(t.x[i] > t.x[i + 1]);
        // each layer has area V
        let area = t.x[i] * (t.f[i + 1] - t.f[i]);
        assert!((area - ZIG_V).abs() < 1e-9, "layer {i}: area {area}");
    }
    // the top layer closes at x = 0 (consistency of R and V)
    assert!((t.x[255] * (1.0 - t.f[255]) - ZIG_V).abs() < 1e-9);
}

#[test]
fn decode_errors() {
    let bad: &[(&[f64], &str)] = &[
        (&[], "empty"),
        (&[2.0, 0.0], "ends early"),
        (&[2.0, 0.0, 0.0], "sigma"),
        (&[2.0, 0.0, -1.0], "sigma"),
        (&[2.0, f64::NAN, 1.0], "mu"),
        (&[1.0, 3.0, 1.0], "a < b"),
        (&[4.0, 0.0], "rate"),
        (&[5.0, -1.0, 1.0], "shape"),
        (&[6.0, 1.0, INF], "beta"),
        (&[7.0, 0.0, 0.0, 1.0], "df"),
        (&[8.0, 0.0, 0.0], "scale"),
        (&[99.0], "unknown distribution tag"),
        (&[2.5, 0.0, 1.0], "unknown distribution tag"),
        (&[2.0, 0.0, 1.0, 5.0], "trailing"),
        (&[20.0, 2.0, 1.0, 2.0, 0.0, 1.0], "lo < hi"),
        (&[20.0, 40.0, INF, 2.0, 0.0, 1.0], "probability"),
        (&[20.0, 0.0, 1.0, 23.0, 2.0, 0.0, 0.0, 1.0, 1.0], "1-D"),
        (&[21.0, 2.0, 0.5, 0.6, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0], "sum to 1"),
        (&[21.0, 2.0, 1.5, -0.5, 2.0, 0.0, 1.0, 2.0, 0.0, 1.0], ">= 0"),
        (&[21.0, 2.0, 0.5, 0.5, 2.0, 0.0, 1.0, 23.0, 2.0, 0.0, 0.0, 1.0, 1.0], "share one dimension"),
        (&[21.0, 0.0], "positive integer"),
        (&[21.0, 1e9, 1.0], "only"),
        (&[22.0, 2.0, 2.0, 0.0, 1.0, 23.0, 2.0, 0.0, 0.0, 1.0, 1.0], "1-D"),
        (&[22.0, 1.5, 2.0, 0.0, 1.0], "positive integer"),
        (&[23.0, 2.0, 0.0, 0.0, 1.0, 0.0], "sigma_2"),
        (&[23.0, 2.0, 0.0, 0.0, 1.0], "ends early"),
        // numbers in messages stay short (`{}` spelled 1e300 out in 301 digits)
        (&[2.0, 0.0, -1e300], "got -1e300"),
        (&[20.0, -1e300, -1e299, 7.0, 7.0, 0.0, 1.0], "[-1e300, -1e299] has probability"),
    ];
    for (p, want) in bad {
        match Dist::decode(p) {
            Ok(_) => panic!("{p:?} decoded"),
            Err(e) => assert!(e.contains(want), "{p:?}: message {e:?} lacks {want:?}"),
        }
    }
    // deep nesting is refused, not a stack overflow
    let mut deep = Vec::new();
    for _ in 0..10_000 {
        deep.extend_from_slice(&[21.0, 1.0, 1.0]);
    }
    deep.extend_from_slice(&[2.0, 0.0, 1.0]);
    assert!(Dist::decode(&deep).unwrap_err().contains("deeper"));
}

#[test]
fn logpdf_values() {
    // spot values from scipy.stats 1.17
    let cases: &[(&[f64], f64, f64)] = &[
        (&[2.0, 1.0, 2.0], 0.3, -1.6733357137646179),
        (&[3.0, 0.2, 0.5], 1.7, -0.975049684507757),
        (&[5.0, 2.5, 2.0], 0.7, -0.4868273349811544),
        (&[6.0, 2.0, 5.0], 0.2, 0.8991852639712161),
        (&[7.0, 5.0, 1.0, 2.0], -3.0, -3.4251267643210266),
        (&[8.0, 1.0, 0.5], 2.0, -2.061020617723555),
        (&[10.0, 0.5, 1.5], -1.0, -2.03198848314461),
    ];
    for &(p, x, want) in cases {
        let got = dist(p).logpdf_one(x);
        assert!((got - want).abs() < 1e-12 * want.abs().max(1.0), "{p:?} at {x}: {got} vs {want}");
    }
    let mut out = [0.0; 4];
    dist(&[5.0, 1.0, 2.0]).logpdf(&[0.0, -1.0, f64::NAN, 1.0], &mut out);
    assert_eq!(out[0], 2f64.ln());
    assert_eq!(out[1], f64::NEG_INFINITY);
    assert!(out[2].is_nan());
}

#[test]
#[ignore]
fn bench_dist() {
    let n = 2_000_000;
    let mut out = vec![0.0; n];
    let mut lp = vec![0.0; n];
    let progs: &[(&str, &[f64])] = &[
        ("normal", &[2.0, 0.0, 1.0]),
        ("exp", &[4.0, 1.0]),
        ("gamma 2.5", &[5.0, 2.5, 1.0]),
        ("beta 2 5", &[6.0, 2.0, 5.0]),
        ("logistic", &[10.0, 0.0, 1.0]),
        ("trunc normal [2,inf)", &[20.0, 2.0, INF, 2.0, 0.0, 1.0]),
        ("mixture", &[21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0]),
    ];
    for (name, p) in progs {
        let d = dist(p);
        let mut rng = Stream::new(1, 2, 0);
        d.sample(&mut rng, &mut out);
        d.logpdf(&out, &mut lp);
        let t = std::time::Instant::now();
        d.sample(&mut rng, &mut out);
        let ts = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        d.logpdf(&out, &mut lp);
        let tl = t.elapsed().as_secs_f64();
        eprintln!("{name:24} sample {:8.1} M/s   logpdf {:8.1} M/s", n as f64 / ts / 1e6, n as f64 / tl / 1e6);
    }
}

#[test]
fn zig_fast_path_rate() {
    // the rectangle test accepts ~98.5% of attempts with 256 layers
    let t = zig();
    let mut rng = Stream::new(1, 2, 0);
    let n = 200_000;
    let mut fast = 0;
    for _ in 0..n {
        let bits = rng.next_u64();
        let i = (bits & 255) as usize;
        let f = (bits >> 11) as f64 * (1.0 / 9007199254740992.0);
        if f * t.x[i] < t.x[i + 1] {
            fast += 1;
        }
    }
    let rate = fast as f64 / n as f64;
    assert!(rate > 0.98 && rate < 0.99, "fast path rate {rate}");
}

#[test]
fn mixture_logpdf_edges() {
    // disjoint supports: -inf between them; NaN propagates; far components do not underflow
    let d = dist(&[21.0, 2.0, 0.4, 0.6, 1.0, 0.0, 1.0, 1.0, 5.0, 6.0]);
    let mut o = [0.0; 4];
    d.logpdf(&[0.5, 3.0, 5.5, f64::NAN], &mut o);
    assert!((o[0] - 0.4f64.ln()).abs() < 1e-15);
    assert_eq!(o[1], f64::NEG_INFINITY);
    assert!((o[2] - 0.6f64.ln()).abs() < 1e-15);
    assert!(o[3].is_nan());
    let d = dist(&[21.0, 2.0, 0.3, 0.7, 2.0, 0.0, 1.0, 2.0, 100.0, 1.0]);
    let mut o = [0.0; 2];
    d.logpdf(&[0.0, 50.0], &mut o);
    assert!((o[0] - (0.3f64.ln() - sp::LN_SQRT_2PI)).abs() < 1e-14, "{}", o[0]);
    // at 50 both components are equal: ln(0.3 + 0.7) - 1250 - ln√(2π)
    assert!((o[1] - (-1250.0 - sp::LN_SQRT_2PI)).abs() < 1e-12, "{}", o[1]);
    // zero-weight component is never drawn and does not contribute
    let d = dist(&[21.0, 3.0, 0.5, 0.0, 0.5, 1.0, 0.0, 1.0, 1.0, 10.0, 11.0, 1.0, 2.0, 3.0]);
    let xs = draw(&[21.0, 3.0, 0.5, 0.0, 0.5, 1.0, 0.0, 1.0, 1.0, 10.0, 11.0, 1.0, 2.0, 3.0], 10_000, 5);
    assert!(xs.iter().all(|&x| x < 3.0));
    let mut o = [0.0; 1];
    d.logpdf(&[10.5], &mut o);
    assert_eq!(o[0], f64::NEG_INFINITY);
    // many components: chunking by component count
    let k = 300;
    let mut p = vec![21.0, k as f64];
    p.extend(std::iter::repeat(1.0 / k as f64).take(k));
    for i in 0..k {
        p.extend_from_slice(&[2.0, i as f64, 1.0]);
    }
    let d = dist(&p);
    let xs: Vec<f64> = (0..2000).map(|i| i as f64 * 0.15).collect();
    let mut lp = vec![0.0; 2000];
    d.logpdf(&xs, &mut lp);
    for (i, &x) in xs.iter().enumerate() {
        let want = (0..k).map(|j| (-0.5 * (x - j as f64).powi(2)).exp()).sum::<f64>().ln() - (k as f64).ln() - sp::LN_SQRT_2PI;
        assert!((lp[i] - want).abs() < 1e-12, "x {x}: {} vs {want}", lp[i]);
    }
}

/// Medians over repeated batches of 65536 (less noise than `bench_dist`):
/// `cargo test --release -p rsft-native bench_dist_median -- --ignored --nocapture`
#[test]
#[ignore]
fn bench_dist_median() {
    let n = 65536;
    let reps = 15;
    let inner = 20;
    let mut out = vec![0.0; n];
    let mut lp = vec![0.0; n];
    let filter = std::env::var("BENCH_FILTER").unwrap_or_default();
    let progs: &[(&str, &[f64])] = &[
        ("uniform", &[1.0, 0.0, 1.0]),
        ("normal", &[2.0, 0.0, 3.0]),
        ("exp", &[4.0, 1.0]),
        ("gamma 2.5", &[5.0, 2.5, 1.0]),
        ("beta 2 5", &[6.0, 2.0, 5.0]),
        ("logistic", &[10.0, 0.0, 1.0]),
        ("trunc normal [2,inf)", &[20.0, 2.0, INF, 2.0, 0.0, 1.0]),
        ("trunc exp [2,inf)", &[20.0, 2.0, INF, 4.0, 2.414213562373095]),
        ("trunc exp [2,3]", &[20.0, 2.0, 3.0, 4.0, 2.414213562373095]),
        ("mixture", &[21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0]),
    ];
    for (name, p) in progs {
        if !name.contains(filter.as_str()) {
            continue;
        }
        let d = dist(p);
        let mut rng = Stream::new(1, 2, 0);
        let (mut ts, mut tl) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let t = std::time::Instant::now();
            for _ in 0..inner {
                d.sample(&mut rng, &mut out);
            }
            ts.push(t.elapsed().as_secs_f64());
            let t = std::time::Instant::now();
            for _ in 0..inner {
                d.logpdf(&out, &mut lp);
            }
            tl.push(t.elapsed().as_secs_f64());
        }
        ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
        tl.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let m = (n * inner) as f64 / 1e6;
        eprintln!("{name:24} sample {:8.1} M/s   logpdf {:8.1} M/s", m / ts[reps / 2], m / tl[reps / 2]);
    }
}

#[test]
#[ignore]
fn bench_normal_ab() {
    let n = 65536;
    let mut out = vec![0.0; n];
    let t = zig();
    let mut rng = Stream::new(1, 2, 0);
    for round in 0..3 {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..15 {
            let s = std::time::Instant::now();
            for _ in 0..20 {
                for v in out.iter_mut() {
                    *v = 3.0 * std_normal(&mut rng, t);
                }
            }
            a.push(s.elapsed().as_secs_f64());
            let s = std::time::Instant::now();
            for _ in 0..20 {
                normal_fill(&mut rng, &mut out, 0.0, 3.0);
            }
            b.push(s.elapsed().as_secs_f64());
        }
        a.sort_by(|x, y| x.partial_cmp(y).unwrap());
        b.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let m = (n * 20) as f64 / 1e6;
        eprintln!("round {round}: std_normal loop {:.1} M/s, normal_fill {:.1} M/s (medians)", m / a[7], m / b[7]);
    }
}

#[test]
fn normal_fill_matches_scalar() {
    let t = zig();
    for &(seed, n) in &[(1u64, 1usize), (2, 7), (3, 8), (4, 9), (5, 63), (6, 64), (7, 65), (8, 511), (9, 512), (10, 513), (11, 100_000)] {
        let mut r1 = Stream::new(seed, 3, 0);
        let mut r2 = Stream::new(seed, 3, 0);
        let want: Vec<f64> = (0..n).map(|_| 1.5 + 2.0 * std_normal(&mut r1, t)).collect();
        let mut got = vec![0.0; n];
        normal_fill(&mut r2, &mut got, 1.5, 2.0);
        assert_eq!(got, want, "n = {n}");
        // the stream is left at the same place
        assert_eq!(r1.next_u64(), r2.next_u64());
    }
}

#[test]
fn gamma_beta_sample_matches_sample_one() {
    let t = zig();
    let progs: &[&[f64]] = &[
        &[5.0, 2.5, 2.0],
        &[5.0, 0.3, 1.0],
        &[5.0, 1.0, 3.0],
        &[5.0, 40.0, 0.5],
        &[5.0, 1.2, 1.0],
        &[6.0, 2.0, 5.0],
        &[6.0, 0.5, 0.3],
        &[6.0, 0.7, 3.0],
        &[6.0, 3.0, 0.2],
        &[6.0, 1.0, 1.0],
    ];
    for p in progs {
        let d = dist(p);
        for &(seed, n) in &[(1u64, 1usize), (2, 2), (3, 7), (4, 64), (5, 127), (6, 128), (7, 129), (8, 255), (9, 257), (10, 50_000)] {
            let mut r1 = Stream::new(seed, 4, 0);
            let mut r2 = Stream::new(seed, 4, 0);
            let want: Vec<f64> = (0..n).map(|_| d.sample_one(&mut r1, t)).collect();
            let mut got = vec![0.0; n];
            d.sample(&mut r2, &mut got);
            assert_eq!(got, want, "{p:?} n = {n}");
            assert_eq!(r1.next_u64(), r2.next_u64(), "{p:?} n = {n}: stream position");
        }
    }
}

#[test]
#[ignore]
fn bench_sample_ab() {
    let n = 65536;
    let mut out = vec![0.0; n];
    let t = zig();
    for p in [&[5.0, 2.5, 1.0][..], &[6.0, 2.0, 5.0][..], &[5.0, 0.5, 1.0][..], &[21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0][..]] {
        let d = dist(p);
        let mut rng = Stream::new(1, 2, 0);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..11 {
            let s = std::time::Instant::now();
            for _ in 0..5 {
                for v in out.iter_mut() {
                    *v = d.sample_one(&mut rng, t);
                }
            }
            a.push(s.elapsed().as_secs_f64());
            let s = std::time::Instant::now();
            for _ in 0..5 {
                d.sample(&mut rng, &mut out);
            }
            b.push(s.elapsed().as_secs_f64());
        }
        a.sort_by(|x, y| x.partial_cmp(y).unwrap());
        b.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let m = (n * 5) as f64 / 1e6;
        eprintln!("{p:?}: sample_one loop {:.1} M/s, batch {:.1} M/s (medians)", m / a[5], m / b[5]);
    }
}

#[test]
#[ignore]
fn bench_mixture_logpdf_ab() {
    let n = 65536;
    let p = [21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0];
    let p3 = [21.0, 3.0, 0.3, 0.3, 0.4, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0, 2.0, 4.0, 2.0];
    for p in [&p[..], &p3[..]] {
        let d = dist(p);
        let xs = draw(&[2.0, 0.0, 3.0], n, 1);
        let mut lp = vec![0.0; n];
        let mut lq = vec![0.0; n];
        let Dist::Mixture(m) = &d else { panic!() };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..11 {
            let s = std::time::Instant::now();
            for _ in 0..10 {
                m.logpdf_generic(&xs, &mut lq);
            }
            a.push(s.elapsed().as_secs_f64());
            let s = std::time::Instant::now();
            for _ in 0..10 {
                d.logpdf(&xs, &mut lp);
            }
            b.push(s.elapsed().as_secs_f64());
        }
        for i in 0..n {
            assert!((lp[i] - lq[i]).abs() <= 1e-13 * lq[i].abs().max(1.0), "{} vs {}", lp[i], lq[i]);
        }
        a.sort_by(|x, y| x.partial_cmp(y).unwrap());
        b.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let mm = (n * 10) as f64 / 1e6;
        eprintln!("k = {}: generic {:.1} M/s, normal-mixture path {:.1} M/s (medians)", p[1], mm / a[5], mm / b[5]);
    }
}

#[test]
fn mixture_fill_matches_scalar() {
    let t = zig();
    let progs: &[&[f64]] = &[
        &[21.0, 2.0, 0.3, 0.7, 2.0, -2.0, 0.5, 2.0, 1.5, 1.0],
        &[21.0, 1.0, 1.0, 2.0, 3.0, 2.0],
        &[21.0, 3.0, 0.5, 0.0, 0.5, 2.0, 0.0, 1.0, 2.0, 10.0, 1.0, 2.0, -5.0, 0.1],
        &[21.0, 3.0, 0.6, 0.4, 0.0, 2.0, 0.0, 1.0, 2.0, 10.0, 1.0, 2.0, -5.0, 0.1],
        &[21.0, 3.0, 0.0, 0.4, 0.6, 2.0, 0.0, 1.0, 2.0, 10.0, 1.0, 2.0, -5.0, 0.1],
    ];
    for p in progs {
        let d = dist(p);
        for &(seed, n) in &[(1u64, 1usize), (2, 2), (3, 7), (4, 255), (5, 256), (6, 257), (7, 50_000)] {
            let mut r1 = Stream::new(seed, 4, 0);
            let mut r2 = Stream::new(seed, 4, 0);
            let want: Vec<f64> = (0..n).map(|_| d.sample_one(&mut r1, t)).collect();
            let mut got = vec![0.0; n];
            d.sample(&mut r2, &mut got);
            assert_eq!(got, want, "{p:?} n = {n}");
            assert_eq!(r1.next_u64(), r2.next_u64(), "{p:?} n = {n}: stream position");
        }
    }
    // 17 components: the scalar path
    let mut p = vec![21.0, 17.0];
    p.extend(std::iter::repeat(1.0 / 17.0).take(17));
    for i in 0..17 {
        p.extend_from_slice(&[2.0, i as f64, 1.0]);
    }
    let xs = draw(&p, 1000, 3);
    assert!(xs.iter().all(|x| x.is_finite()));
}

#[test]
fn inversion_batches_match_scalar() {
    let t = zig();
    let progs: &[&[f64]] = &[
        &[9.0, -1.0, 2.0],
        &[10.0, 0.5, 1.5],
        &[4.0, 2.5],
        &[1.0, -2.0, 3.0],
        &[20.0, 3.0, INF, 4.0, 1.0],
        &[20.0, 0.1, 0.5, 4.0, 1.0],
        &[20.0, -INF, -6.0, 9.0, 0.0, 1.0],
        &[20.0, 4.0, INF, 9.0, 0.0, 1.0],
        &[20.0, 4.0, 5.0, 10.0, 0.0, 1.0],
        &[20.0, -5.0, -4.0, 10.0, 0.0, 1.0],
        &[20.0, 0.5, 0.6, 1.0, 0.0, 1.0],
        &[20.0, 0.1, 0.15, 1.0, 0.0, 1.0],
        &[20.0, 5.0, 50.0, 8.0, 0.0, 1.0],
        &[20.0, 8.0, INF, 2.0, 0.0, 1.0],
    ];
    for p in progs {
        let d = dist(p);
        for &(seed, n) in &[(1u64, 1usize), (2, 9), (3, 2047), (4, 2049), (5, 10_000)] {
            let mut r1 = Stream::new(seed, 4, 0);
            let mut r2 = Stream::new(seed, 4, 0);
            let want: Vec<f64> = (0..n).map(|_| d.sample_one(&mut r1, t)).collect();
            let mut got = vec![0.0; n];
            d.sample(&mut r2, &mut got);
            assert_eq!(got, want, "{p:?} n = {n}");
            assert_eq!(r1.next_u64(), r2.next_u64(), "{p:?} n = {n}: stream position");
        }
    }
}

/// The wedge squeeze decides every wedge test as the exp does: random z in each layer's
/// wedge range and random uniforms, plus the extremes and uniforms right at the threshold.
#[test]
fn wedge_squeeze_equals_exp() {
    let t = zig();
    let mut r = Stream::new(11, 3, 0);
    let (mut settled, mut total) = (0usize, 0usize);
    for i in 1..256 {
        let (a, b) = (t.x[i + 1], t.x[i]);
        for k in 0..4000 {
            let z = match k {
                0 => a,
                1 => b,
                _ => a + (b - a) * r.next_f64(),
            };
            let e = fm::exp(-0.5 * z * z);
            let lhs = match k % 4 {
                // right at (and one ulp either side of) the exp's value
                2 => e,
                3 => f64::from_bits(e.to_bits() + (r.next_u64() & 1) * 2 - 1),
                _ => t.f[i] + r.next_f64() * (t.f[i + 1] - t.f[i]),
            };
            assert_eq!(wedge_test(t, i, z, lhs), lhs < e, "layer {i} z={z} lhs={lhs}");
            if k % 4 < 2 {
                total += 1;
                let kd = t.kind[i];
                if kd != 0 {
                    let chord = t.f[i] + t.cs[i] * (b - z);
                    let ta = t.f[i + 1] * (1.0 - a * (z - a));
                    let tb = t.f[i] * (1.0 + b * (b - z));
                    let (lo, hi) = if kd == 1 { (ta.max(tb), chord) } else { (chord, ta.min(tb)) };
                    assert!(lo <= e * (1.0 + 1e-14) && e <= hi * (1.0 + 1e-14), "layer {i} z={z}: {lo} {e} {hi}");
                    settled += (lhs < lo * (1.0 - WEDGE_TOL) || lhs > hi * (1.0 + WEDGE_TOL)) as usize;
                }
            }
        }
    }
    eprintln!("wedge squeeze: {settled} of {total} random wedge tests settled without exp");
    assert!(settled * 100 > total * 90, "only {settled} of {total} wedge tests settled without exp");
}

/// `normal_fill` after partial use of the stream's buffer (the fused AVX-512 pass 1 starts
/// mid-buffer, steps the state itself and keeps a short tail buffered), over consecutive calls
/// of odd lengths: the same values and stream position as scalar draws.
#[test]
fn normal_fill_matches_scalar_mid_buffer() {
    let t = zig();
    for skip in [0usize, 1, 5, 8, 100, 255, 256, 300] {
        let mut r1 = Stream::new(21, skip as u64, 0);
        let mut r2 = Stream::new(21, skip as u64, 0);
        for _ in 0..skip {
            assert_eq!(r1.next_u64(), r2.next_u64());
        }
        for (c, &n) in [1usize, 13, 512, 517, 3, 2048, 700, 8, 9, 40_000].iter().enumerate() {
            let want: Vec<f64> = (0..n).map(|_| -0.5 + 3.0 * std_normal(&mut r1, t)).collect();
            let mut got = vec![0.0; n];
            normal_fill(&mut r2, &mut got, -0.5, 3.0);
            assert_eq!(got, want, "skip {skip} call {c} n = {n}");
        }
        for _ in 0..300 {
            assert_eq!(r1.next_u64(), r2.next_u64(), "skip {skip}: stream position");
        }
    }
}

/// `compact_kept` (the end of `normal_fill`'s pass 2) on every path: the kept slots in order,
/// for random drop masks of every density, first positions and lengths.
#[test]
fn compact_kept_matches_reference() {
    let mut r = Stream::new(77, 0, 0);
    for &m in &[1usize, 7, 8, 9, 63, 64, 65, 100, 511, 512] {
        for density in [0u32, 1, 4, 16, 64] {
            for _ in 0..20 {
                let src: Vec<f64> = (0..m).map(|k| k as f64 + 0.25).collect();
                let mut drop = [0u64; NBUF / 64];
                let first = (r.next_u64() % m as u64) as usize;
                for p in first..m {
                    if (r.next_u64() % 64) < density as u64 {
                        drop[p / 64] |= 1 << (p % 64);
                    }
                }
                let want: Vec<f64> = (0..m).filter(|&p| (drop[p / 64] >> (p % 64)) & 1 == 0).map(|p| src[p]).collect();
                let mut o = src.clone();
                let w = compact_kept(&mut o, first, &drop);
                assert_eq!(&o[..w], &want[..], "m {m} first {first}");
                #[cfg(target_arch = "x86_64")]
                if crate::rng::simd() == crate::rng::Simd::Avx512 {
                    let mut o2 = src.clone();
                    // SAFETY: AVX-512 CPU; o2 holds m doubles, drop covers them
                    let (mut c, mut p) = unsafe { compact_kept_avx512(o2.as_mut_ptr(), m, first, drop.as_ptr()) };
                    while p < m {
                        o2[c] = o2[p];
                        c += ((drop[p / 64] >> (p % 64)) & 1 == 0) as usize;
                        p += 1;
                    }
                    assert_eq!(&o2[..c], &want[..], "avx512: m {m} first {first}");
                }
            }
        }
    }
}

/// Many ziggurat misses (so the branch-free common case of pass 2, its fallbacks and misses
/// at block ends all occur), mu = 0 (signed zeros) and a large block: the values and stream
/// position of scalar draws.
#[test]
fn normal_fill_matches_scalar_many_misses() {
    let t = zig();
    for seed in 0..6u64 {
        for &(mu, s) in &[(0.0, 3.0), (0.0, 1.0), (-2.0, 0.5)] {
            let n = 200_000;
            let mut r1 = Stream::new(seed, 9, 0);
            let mut r2 = Stream::new(seed, 9, 0);
            let want: Vec<f64> = (0..n).map(|_| mu + s * std_normal(&mut r1, t)).collect();
            let mut got = vec![0.0; n];
            normal_fill(&mut r2, &mut got, mu, s);
            assert!(got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "seed {seed} mu {mu} s {s}");
            assert_eq!(r1.next_u64(), r2.next_u64());
        }
    }
}

#[test]
fn flat_rejection_is_exact_where_the_density_slopes() {
    // `Flat` on intervals wide enough for the slope to show (expected acceptance >= 1/2), so
    // both its accept rule and its quadrature are tested against closed-form cdfs.
    let cases: [(&[f64], f64, f64); 4] = [
        (&[2.0, 0.0, 1.0], 0.0, 1.5),   // normal, peak at the lower end
        (&[2.0, 0.0, 1.0], -0.8, 1.2),  // peak inside
        (&[9.0, 0.3, 1.0], -0.5, 1.0),  // laplace: the kink inside
        (&[6.0, 0.5, 0.5], 0.2, 0.8),   // log-convex beta: sup at an end
    ];
    for (k, (child, lo, hi)) in cases.iter().enumerate() {
        let c = dist(child);
        let f = Flat::new(&c, *lo, *hi).unwrap_or_else(|| panic!("case {k}: no flat sampler"));
        let mass = c.cdf(*hi) - c.cdf(*lo);
        let rel = f.ln_mass().exp();
        // (8 points over an interval this wide: up to ~6e-9; a narrow one is exact to rounding)
        assert!((rel - mass).abs() < 2e-8 * mass, "case {k}: quadrature mass {rel} vs {mass}");
        let mut rng = Stream::new(17, k as u64, 0);
        let xs: Vec<f64> = (0..N).map(|_| f.draw(&c, &mut rng)).collect();
        let flo = c.cdf(*lo);
        let d = ks(&xs, |x| (c.cdf(x) - flo) / mass);
        assert!(d < ks_crit(N), "case {k}: KS {d}");
    }
    // a subtly wrong sup (the lower end's density, not the peak inside) fails the same test
    let c = dist(&[2.0, 0.0, 1.0]);
    let mut f = Flat::new(&c, -0.8, 1.2).unwrap();
    f.ln_pmax = c.logpdf_one(-0.8);
    let mut rng = Stream::new(17, 1, 0);
    let xs: Vec<f64> = (0..N).map(|_| f.draw(&c, &mut rng)).collect();
    let (flo, mass) = (c.cdf(-0.8), c.cdf(1.2) - c.cdf(-0.8));
    assert!(ks(&xs, |x| (c.cdf(x) - flo) / mass) > 2.0 * ks_crit(N));
}

#[test]
fn narrow_truncations_are_not_lattices() {
    // truncated(normal(0,1), 0, 1e-12): inversion gave 3594 distinct values in 2e6 draws;
    // the density is constant to 1e-24 there, so x / 1e-12 is uniform
    let p = [20.0, 0.0, 1e-12, 2.0, 0.0, 1.0];
    let xs = draw(&p, N, 5);
    let mut v = xs.clone();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v.dedup();
    assert!(v.len() > N - 5, "{} distinct of {N}", v.len());
    assert!(ks(&xs, |x| x / 1e-12) < ks_crit(N));
    let mut lp = [0.0];
    dist(&p).logpdf(&[5e-13], &mut lp);
    assert!((lp[0] - 1e12f64.ln()).abs() < 1e-12, "{}", lp[0]);
    // an interval whose cdf difference is 0 has mass 4e-18 and samples
    let xs = draw(&[20.0, 0.0, 1e-17, 2.0, 0.0, 1.0], 1000, 6);
    assert!(xs.iter().all(|&x| (0.0..=1e-17).contains(&x)));
    // the upper side and a deep tail: [30, 30 + 1e-9] (mass 1.5e-205)
    let p = [20.0, 30.0, 30.0 + 1e-9, 2.0, 0.0, 1.0];
    let w = p[2] - 30.0;
    let xs = draw(&p, N, 7);
    // density falls by exp(-30 t) across: cdf (1 - exp(-30 (x - 30))) / (1 - exp(-30 w))
    let cdf = |x: f64| (-(-30.0 * (x - 30.0)).exp_m1()) / (-(-30.0 * w).exp_m1());
    assert!(ks(&xs, cdf) < ks_crit(N));
}

#[test]
fn narrow_truncations_of_mixtures_and_truncations() {
    // the bound is a weighted sum of the components' sups (an inner truncation's scaled by
    // 1 / its mass), with quadrature pieces split at the components' modes and inner ends
    // (near 1e-6 the interval holds ~5e9 doubles)
    let lo = 1e-6;
    let hi = lo + 1e-12;
    let mix = [21.0, 2.0, 0.5, 0.5, 9.0, lo + 3e-13, 1.0, 20.0, lo + 6e-13, 5.0, 2.0, 0.0, 1.0];
    let mut p = vec![20.0, lo, hi];
    p.extend_from_slice(&mix);
    let d = dist(&p);
    let Dist::Truncated(t) = &d else { panic!("not a truncation") };
    let f = t.flat.as_ref().expect("a flat sampler for a narrow truncated mixture");
    // cuts at the laplace kink and the inner truncation's lower end
    assert_eq!(f.pieces.len(), 4, "{:?}", f.pieces);
    // the density is a step: 0.5 laplace(kink) everywhere + 0.5 N(0,1) / S(lo + 6e-13) above
    // lo + 6e-13; the cdf is piecewise linear to ~1e-12
    let c = dist(&mix);
    let (pl, ph) = (c.logpdf_one(lo + 1e-13).exp(), c.logpdf_one(lo + 9e-13).exp());
    let cut = lo + 6e-13;
    let (m1, m2) = (pl * (cut - lo), ph * (hi - cut));
    let cdf = |x: f64| if x < cut { pl * (x - lo) / (m1 + m2) } else { (m1 + ph * (x - cut)) / (m1 + m2) };
    let xs = draw(&p, N, 8);
    assert!(xs.iter().all(|&x| (lo..=hi).contains(&x)));
    assert!(ks(&xs, cdf) < ks_crit(N), "KS {}", ks(&xs, cdf));
    let mut v = xs.clone();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v.dedup();
    assert!(v.len() > N - 5, "{} distinct of {N}", v.len());
}

#[test]
fn mixture_log_density_skips_only_exact_zeros() {
    // 200 narrow normals and a wide one, at sorted points (chunks where most components are
    // far from every row skip their exps): the same bits as the log-sum-exp with every term,
    // in the same order, terms below -700 zeroed
    let mut p = vec![21.0, 201.0];
    let w = (1.0 - 1e-3) / 200.0;
    p.extend(std::iter::repeat(w).take(200));
    p.push(1.0 - 200.0 * w);
    for i in 0..200 {
        p.extend([2.0, -10.0 + 0.1 * i as f64, 0.002 + 0.0001 * (i % 13) as f64]);
    }
    p.extend([2.0, 0.0, 30.0]);
    let d = dist(&p);
    let Dist::Mixture(m) = &d else { panic!("not a mixture") };
    let xs: Vec<f64> = (0..5000).map(|i| -12.0 + 24.0 * i as f64 / 5000.0).collect();
    let mut got = vec![0.0; xs.len()];
    d.logpdf(&xs, &mut got);
    for (i, &x) in xs.iter().enumerate() {
        let terms: Vec<f64> = m.children.iter().zip(&m.lw).map(|(c, lw)| c.logpdf_one(x) + lw).collect();
        let mx = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut s = 0.0;
        for t in &terms {
            let e = t - mx;
            s += if e > -700.0 { fm::exp(e) } else { 0.0 };
        }
        let want = mx + fm::ln(s);
        assert_eq!(got[i].to_bits(), want.to_bits(), "x = {x}: {} vs {want}", got[i]);
    }
}
