//! Shamir secret sharing over GF(2^8) as sops uses it for key groups (HashiCorp Vault's
//! scheme, spec `sops.md` §7.3): per secret byte a random polynomial with the byte as its
//! constant term, evaluated at x = 1..n; a share is the y bytes followed by its x byte.

use zeroize::Zeroizing;

use super::error::Error;

/// Multiplication modulo the AES polynomial x^8 + x^4 + x^3 + x + 1.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        let carry = a & 0x80 != 0;
        a <<= 1;
        if carry {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    product
}

/// a^254 = a^-1 in GF(2^8).
fn inv(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut exp = 254u8;
    while exp != 0 {
        if exp & 1 != 0 {
            result = mul(result, base);
        }
        base = mul(base, base);
        exp >>= 1;
    }
    result
}

/// Splits `secret` into `parts` shares of which any `threshold` recover it.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, Error> {
    if !(2..=parts).contains(&threshold) || parts > 255 {
        return Err(Error::Metadata(format!(
            "a Shamir threshold of {threshold} with {parts} key groups is invalid (need 2 <= threshold <= groups <= 255)"
        )));
    }
    let mut coefficients = Zeroizing::new(vec![0u8; secret.len() * (threshold - 1)]);
    super::cipher::random(&mut coefficients)?;
    Ok((1..=parts as u8)
        .map(|x| {
            let mut share: Vec<u8> = secret
                .iter()
                .enumerate()
                .map(|(i, &constant)| {
                    let coeffs = &coefficients[i * (threshold - 1)..(i + 1) * (threshold - 1)];
                    // Horner, highest degree first, then the constant term.
                    coeffs.iter().rev().fold(0u8, |acc, &c| mul(acc ^ c, x)) ^ constant
                })
                .collect();
            share.push(x);
            Zeroizing::new(share)
        })
        .collect())
}

/// Recovers the secret from shares (each y bytes then its x byte) by Lagrange interpolation
/// at x = 0.
pub fn combine(shares: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let bad = || Error::Metadata("Shamir shares have different lengths or repeat".into());
    let len = shares
        .first()
        .map(|s| s.len())
        .filter(|l| *l >= 2)
        .ok_or_else(bad)?;
    if shares.iter().any(|s| s.len() != len) {
        return Err(bad());
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    if xs
        .iter()
        .enumerate()
        .any(|(i, x)| xs[..i].contains(x) || *x == 0)
    {
        return Err(bad());
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (i, share) in shares.iter().enumerate() {
        // basis_i(0) = prod_{j != i} x_j / (x_j - x_i); subtraction is xor.
        let basis = xs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .fold(1u8, |acc, (_, &xj)| mul(acc, mul(xj, inv(xj ^ xs[i]))));
        for (out, &y) in secret.iter_mut().zip(share.iter()) {
            *out ^= mul(y, basis);
        }
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_inverse() {
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "{a}");
        }
    }

    #[test]
    fn any_threshold_subset_recovers() {
        let secret: Vec<u8> = (0..32).collect();
        let shares = split(&secret, 5, 3).unwrap();
        assert_eq!(shares[0].len(), 33);
        for pick in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let chosen: Vec<_> = pick.iter().map(|&i| shares[i].clone()).collect();
            assert_eq!(combine(&chosen).unwrap().as_slice(), secret.as_slice());
        }
        let short = vec![shares[0].clone(), Zeroizing::new(vec![1u8])];
        assert!(combine(&short).is_err());
        let two: Vec<_> = shares[..2].to_vec();
        assert_ne!(combine(&two).unwrap().as_slice(), secret.as_slice());
    }
}
