//! An exact running sum of floats, under insertions and deletions.
//!
//! A running float sum that adds each inserted value and subtracts each deleted one
//! drifts from the sum of the values that remain: after `1e308 + 1e308` overflowed to
//! `Infinity`, subtracting `1e308` leaves `Infinity`; after two `Infinity` rows were added
//! and deleted it is `NaN` for ever. [`FloatSum`] keeps instead the count of each special
//! value (NaN, `Infinity`, `-Infinity`) and the *exact* sum of the finite values, as an
//! integer times a power of two (every finite float is one). Its value is that exact sum
//! rounded once to the nearest float (ties to even), unless special values remain: then
//! it is what PostgreSQL's float addition gives for them (NaN if any NaN or both
//! infinities remain, else the infinity).
//!
//! So a view's `sum`, `avg` and variance of floats depend only on the rows in the group,
//! never on the order in which they arrived and left. A batch query adds its rows one by
//! one in the order it reads them, each addition rounded; the two answers can differ in
//! the last digits, by no more than the rounding of that batch sum itself.

use num_bigint::{BigInt, Sign};

/// `mantissa × 2^exponent`, exactly; the mantissa kept odd (or zero) so that it stays as
/// short as the values need.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Dyadic {
    mantissa: BigInt,
    exponent: i32,
}

impl Dyadic {
    /// Adds `mantissa × 2^exponent`.
    fn add(&mut self, mantissa: BigInt, exponent: i32) {
        if mantissa.sign() == Sign::NoSign {
            return;
        }
        if self.mantissa.sign() == Sign::NoSign {
            self.mantissa = mantissa;
            self.exponent = exponent;
        } else if exponent >= self.exponent {
            self.mantissa += mantissa << (exponent - self.exponent) as usize;
        } else {
            let shifted = std::mem::take(&mut self.mantissa) << (self.exponent - exponent) as usize;
            self.mantissa = shifted + mantissa;
            self.exponent = exponent;
        }
        if let Some(zeros) = self.mantissa.trailing_zeros() {
            self.mantissa >>= zeros as usize;
            self.exponent += zeros as i32;
        }
    }

    /// The nearest float (ties to even); `±Infinity` beyond the largest.
    pub fn to_f64(&self) -> f64 {
        let magnitude = self.mantissa.magnitude();
        let bits = magnitude.bits() as i64;
        if bits == 0 {
            return 0.0;
        }
        // The exponent of the last bit a float of this size keeps.
        let exponent = i64::from(self.exponent);
        let unit = (bits - 1 + exponent - 52).max(-1074);
        if unit > 1023 {
            return self.signed(f64::INFINITY);
        }
        let shift = unit - exponent;
        let rounded = if shift <= 0 {
            magnitude << (-shift) as usize
        } else {
            let shift = shift as u64;
            let kept = magnitude >> shift as usize;
            let half = magnitude.bit(shift - 1);
            let below_half = magnitude.trailing_zeros().unwrap_or(0) < shift - 1;
            match half && (below_half || kept.bit(0)) {
                true => kept + 1u32,
                false => kept,
            }
        };
        // At most 2^53, so exact as a float; the product is on the float grid, so exact
        // too unless it overflows to infinity.
        let rounded = rounded.iter_u64_digits().next().unwrap_or(0) as f64;
        let power = match unit {
            ..-1022 => f64::from_bits(1u64 << (unit + 1074)),
            _ => f64::from_bits(((unit + 1023) as u64) << 52),
        };
        self.signed(rounded * power)
    }

    fn signed(&self, value: f64) -> f64 {
        match self.mantissa.sign() {
            Sign::Minus => -value,
            _ => value,
        }
    }

    /// The mantissa's bytes and the exponent, for state storage.
    pub fn to_parts(&self) -> (Vec<u8>, i32) {
        (self.mantissa.to_signed_bytes_le(), self.exponent)
    }

    pub fn from_parts(mantissa: &[u8], exponent: i32) -> Dyadic {
        Dyadic {
            mantissa: BigInt::from_signed_bytes_le(mantissa),
            exponent,
        }
    }
}

/// A finite float as `(mantissa, exponent)`: `value = mantissa × 2^exponent`.
fn decompose(value: f64) -> (i64, i32) {
    let bits = value.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = (bits & ((1 << 52) - 1)) as i64;
    let (mantissa, exponent) = match biased {
        0 => (fraction, -1074),
        _ => (fraction | 1 << 52, biased - 1075),
    };
    match value.is_sign_negative() {
        true => (-mantissa, exponent),
        false => (mantissa, exponent),
    }
}

/// The weighted sum of a group's float values, and of their squares (for the variance
/// aggregates), with the special values counted apart.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct FloatSum {
    pub nan: i64,
    pub infinity: i64,
    pub negative_infinity: i64,
    pub finite: Dyadic,
    pub finite_squares: Dyadic,
}

impl FloatSum {
    /// Adds `weight` copies of `value` (negative to delete), and of its square when
    /// `squares` (only the variance aggregates read them).
    pub fn add(&mut self, value: f64, weight: i64, squares: bool) {
        if value.is_nan() {
            self.nan += weight;
        } else if value == f64::INFINITY {
            self.infinity += weight;
        } else if value == f64::NEG_INFINITY {
            self.negative_infinity += weight;
        } else {
            let (mantissa, exponent) = decompose(value);
            let weighted = BigInt::from(mantissa) * weight;
            if squares {
                self.finite_squares.add(&weighted * mantissa, 2 * exponent);
            }
            self.finite.add(weighted, exponent);
        }
    }

    /// What a special value left in the sum makes it, if any remains.
    fn special(&self) -> Option<f64> {
        match (self.nan > 0, self.infinity > 0, self.negative_infinity > 0) {
            (true, _, _) | (_, true, true) => Some(f64::NAN),
            (_, true, false) => Some(f64::INFINITY),
            (_, false, true) => Some(f64::NEG_INFINITY),
            _ => None,
        }
    }

    pub fn sum(&self) -> f64 {
        self.special().unwrap_or_else(|| self.finite.to_f64())
    }

    /// The population (`sample` false) or sample variance of `count` values, or None
    /// when there are too few; NaN if any special value remains, as in PostgreSQL.
    pub fn variance(&self, count: i64, sample: bool) -> Option<f64> {
        let divisor = if sample { count - 1 } else { count };
        if divisor <= 0 {
            return None;
        }
        if self.special().is_some() {
            return Some(f64::NAN);
        }
        // count × Σx² − (Σx)², exactly, then divided once by count × divisor.
        let mut spread = Dyadic::default();
        spread.add(
            &self.finite_squares.mantissa * count,
            self.finite_squares.exponent,
        );
        spread.add(
            -(&self.finite.mantissa * &self.finite.mantissa),
            2 * self.finite.exponent,
        );
        Some(spread.to_f64().max(0.0) / (count as f64 * divisor as f64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum_of(values: &[f64]) -> FloatSum {
        let mut sum = FloatSum::default();
        for value in values {
            sum.add(*value, 1, true);
        }
        sum
    }

    #[test]
    fn deleting_what_overflowed_leaves_the_rest() {
        let mut sum = sum_of(&[1e308, 1e308]);
        assert_eq!(sum.sum(), f64::INFINITY);
        sum.add(1e308, -1, true);
        assert_eq!(sum.sum(), 1e308);
    }

    #[test]
    fn deleted_infinities_leave_no_nan() {
        let mut sum = sum_of(&[f64::INFINITY, f64::INFINITY, 1.0]);
        assert_eq!(sum.sum(), f64::INFINITY);
        sum.add(f64::INFINITY, -2, true);
        assert_eq!(sum.sum(), 1.0);
        sum.add(f64::NEG_INFINITY, 1, true);
        sum.add(f64::INFINITY, 1, true);
        assert!(sum.sum().is_nan());
    }

    #[test]
    fn the_sum_is_exact_then_rounded_once() {
        // 0.1 + 0.2 rounds to 0.30000000000000004 whichever way it is computed;
        // 1e16 + 1 - 1e16 is 1 exactly, not 0 as a running float sum gives.
        assert_eq!(sum_of(&[0.1, 0.2]).sum(), 0.1 + 0.2);
        let mut sum = sum_of(&[1e16, 1.0]);
        sum.add(1e16, -1, true);
        assert_eq!(sum.sum(), 1.0);
        assert_eq!(sum_of(&[-2.5, 2.5]).sum(), 0.0);
    }

    #[test]
    fn rounding_covers_subnormals_ties_and_the_largest_float() {
        let tiny = f64::from_bits(1);
        assert_eq!(sum_of(&[tiny, tiny, tiny]).sum(), 3.0 * tiny);
        assert_eq!(
            sum_of(&[f64::MIN_POSITIVE, -tiny]).sum(),
            f64::MIN_POSITIVE - tiny
        );
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: even wins.
        assert_eq!(sum_of(&[9007199254740992.0, 1.0]).sum(), 9007199254740992.0);
        assert_eq!(
            sum_of(&[9007199254740992.0, 1.0, 1.0]).sum(),
            9007199254740994.0
        );
        assert_eq!(sum_of(&[f64::MAX, -f64::MAX, f64::MAX]).sum(), f64::MAX);
        assert_eq!(sum_of(&[-f64::MAX, -f64::MAX]).sum(), f64::NEG_INFINITY);
    }

    #[test]
    fn variance_is_exact_and_nan_with_infinity() {
        let sum = sum_of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(sum.variance(4, true), Some(5.0 / 3.0));
        assert_eq!(sum.variance(4, false), Some(1.25));
        assert_eq!(sum_of(&[1.0]).variance(1, true), None);
        assert!(
            sum_of(&[1.0, f64::INFINITY])
                .variance(2, false)
                .unwrap()
                .is_nan()
        );
        // A large offset does not cost the small spread its digits.
        let sum = sum_of(&[1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0]);
        assert_eq!(sum.variance(3, true), Some(1.0));
    }

    #[test]
    fn parts_round_trip() {
        let sum = sum_of(&[0.1, -7.25e200, 3e-310]);
        let (mantissa, exponent) = sum.finite.to_parts();
        assert_eq!(Dyadic::from_parts(&mantissa, exponent), sum.finite);
    }
}
