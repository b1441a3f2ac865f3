//! Base64 as Go's `encoding/base64` reads and writes it (kubeseal's items).

use super::error::Error;

/// Decodes standard padded base64 the way Go's `base64.StdEncoding` does: `\r` and `\n` are
/// skipped, anything else outside the alphabet is an error at its byte offset.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, Error> {
    use base64::Engine as _;
    // Go's StdEncoding accepts non-zero trailing bits in the last symbol.
    const GO_STD: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let bytes = text.as_bytes();
    // Only text with line breaks is copied (and the copy wiped): no per-byte bookkeeping, so
    // a large item costs its text and its bytes, nothing more.
    let compact;
    let input: &[u8] = if bytes.iter().any(|b| *b == b'\r' || *b == b'\n') {
        compact = zeroize::Zeroizing::new(
            bytes
                .iter()
                .copied()
                .filter(|b| *b != b'\r' && *b != b'\n')
                .collect::<Vec<u8>>(),
        );
        &compact
    } else {
        bytes
    };
    GO_STD.decode(input).map_err(|e| {
        let at = match e {
            base64::DecodeError::InvalidByte(i, _)
            | base64::DecodeError::InvalidLastSymbol(i, _) => i,
            _ => input.len(),
        };
        // The offset in `text`: the `at`-th byte that is not a line break.
        let offset = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b != b'\r' && **b != b'\n')
            .nth(at)
            .map_or(text.len(), |(orig, _)| orig);
        Error::Base64 { offset }
    })
}

/// Standard padded base64, as kubeseal writes each item.
pub fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
