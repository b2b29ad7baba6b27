// Reference values of ln |Gamma(x)| where implementations go wrong.

/**
 * ln |Gamma(x)| at tiny arguments of either sign (pi / sin(pi x) overflows below ~5.6e-309) and
 * an ulp or so from the poles at 0, -1, -2, -6, -17 (sin(Math.PI * x) loses every digit there),
 * from mpmath at 40 digits of the doubles themselves. Checked for the TypeScript
 * lgamma in special.test.js and for both kernels' evaluators in expr.test.js.
 */
export const LGAMMA_EDGES = [
  [1e-310, 713.8013788281541651], [-1e-310, 713.8013788281541651], [5e-324, 744.44007192138126231],
  [-5e-324, 744.44007192138126231], [1e-8, 18.420680738180208884], [-1e-8, 18.420680749724522182],
  [-1.5e-8, 18.015215644502436338], [-1e-7, 16.118095708679894548], [-0.9999999999999999, 36.736800569677101446],
  [-1.9999999999999998, 35.350506208557210985], [-2.0000000000000004, 34.657359027997265061],
  [-17.000000000000004, -0.23400878325952420104], [-6.0007516356982284, 0.61260081761339349711],
];
