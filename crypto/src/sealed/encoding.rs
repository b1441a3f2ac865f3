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
    let kept: Vec<(usize, u8)> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b != b'\r' && *b != b'\n')
        .collect();
    let compact: Vec<u8> = kept.iter().map(|(_, b)| *b).collect();
    GO_STD.decode(&compact).map_err(|e| {
        let at = match e {
            base64::DecodeError::InvalidByte(i, _)
            | base64::DecodeError::InvalidLastSymbol(i, _) => i,
            _ => compact.len(),
        };
        Error::Base64 {
            offset: kept.get(at).map_or(text.len(), |(orig, _)| *orig),
        }
    })
}

/// Standard padded base64, as kubeseal writes each item.
pub fn encode_base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
