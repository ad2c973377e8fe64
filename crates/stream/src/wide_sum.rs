//! An exact running sum of integers (and of decimals' unscaled integers) under insertions
//! and deletions. The sum is `high · 2^128 + low`, `low` a signed 128-bit integer: adding
//! carries into `high` instead of wrapping, so a sum that left the 128-bit range and came
//! back (by deletions) is exact again, and one that is out of range is known to be.
//! `high` has 128 bits of its own: a sum of `i64` weights times 128-bit values cannot
//! reach its limits.

use num_bigint::{BigInt, Sign};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WideSum {
    pub low: i128,
    pub high: i128,
}

impl WideSum {
    /// Adds `value` times `weight` (negative to delete).
    pub fn add(&mut self, value: i128, weight: i64) {
        match value.checked_mul(i128::from(weight)) {
            Some(product) => self.add_i128(product),
            None => self.add_big(BigInt::from(value) * weight),
        }
    }

    fn add_i128(&mut self, addend: i128) {
        let (low, overflowed) = self.low.overflowing_add(addend);
        self.low = low;
        if overflowed {
            self.high += addend.signum();
        }
    }

    /// Adds a product that does not fit in 128 bits: `addend = q · 2^128 + r`, with `r`
    /// its low 128 bits read as a signed integer.
    fn add_big(&mut self, addend: BigInt) {
        let mut bytes = addend.to_signed_bytes_le();
        let fill = if addend.sign() == Sign::Minus {
            0xff
        } else {
            0
        };
        bytes.resize(bytes.len().max(16), fill);
        let remainder = i128::from_le_bytes(bytes[..16].try_into().expect("16 bytes"));
        let quotient = (addend - remainder) >> 128;
        self.add_i128(remainder);
        self.high += i128::try_from(quotient).expect("a product of i128 and i64 parts");
    }

    /// The sum, if it fits in 128 bits.
    pub fn exact(&self) -> Option<i128> {
        (self.high == 0).then_some(self.low)
    }

    /// The sum, rounded to the nearest double.
    pub fn to_f64(self) -> f64 {
        self.high as f64 * 2f64.powi(128) + self.low as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sum_that_leaves_the_128_bit_range_is_exact_when_it_returns() {
        let big = 10i128.pow(38) - 1;
        let mut sum = WideSum::default();
        for _ in 0..3 {
            sum.add(big, 1);
        }
        assert_eq!(sum.exact(), None, "3·(10^38 − 1) does not fit in 128 bits");
        sum.add(big, -2);
        assert_eq!(sum.exact(), Some(big));
        sum.add(-big, 1);
        assert_eq!(sum.exact(), Some(0));
    }

    #[test]
    fn products_wider_than_128_bits_carry_exactly() {
        let mut sum = WideSum::default();
        sum.add(i128::MAX, i64::MAX);
        sum.add(i128::MIN, i64::MIN);
        assert_eq!(sum.exact(), None);
        sum.add(i128::MAX, -i64::MAX);
        sum.add(i128::MIN, i64::MAX);
        sum.add(i128::MIN, 1);
        assert_eq!(sum.exact(), Some(0));
        sum.add(-7, 3);
        assert_eq!(sum.exact(), Some(-21));
        assert_eq!(sum.to_f64(), -21.0);
    }
}
