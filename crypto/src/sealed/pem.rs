//! PEM blocks (RFC 7468) as found in key, certificate and bundle files, possibly several per file.

use der::pem;
use zeroize::Zeroizing;

use super::Error;

/// One decoded PEM block: its type label (`CERTIFICATE`, `RSA PRIVATE KEY`, ...) and DER bytes.
/// The bytes are wiped on drop because a block may hold a private key.
pub struct Block {
    pub label: String,
    pub der: Zeroizing<Vec<u8>>,
}

/// Decodes every PEM block in `text`, in file order. Text between blocks is ignored, as
/// OpenSSL and Go's `pem.Decode` do.
pub fn blocks(text: &str) -> Result<Vec<Block>, Error> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let from_begin = &rest[start..];
        let end_marker = from_begin
            .find("-----END ")
            .ok_or_else(|| Error::Pem("a BEGIN line has no matching END line".into()))?;
        let after_end = &from_begin[end_marker + "-----END ".len()..];
        let close = after_end
            .find("-----")
            .ok_or_else(|| Error::Pem("an END line is not terminated by -----".into()))?;
        let block_len = end_marker + "-----END ".len() + close + "-----".len();
        let block = &from_begin[..block_len];
        let (label, der) = pem::decode_vec(block.as_bytes())
            .map_err(|e| Error::Pem(format!("malformed PEM block: {e}")))?;
        out.push(Block {
            label: label.to_owned(),
            der: Zeroizing::new(der),
        });
        rest = &from_begin[block_len..];
    }
    Ok(out)
}

/// Encodes DER bytes as one PEM block with LF line endings.
pub fn encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    Zeroizing::new(
        pem::encode_string(label, pem::LineEnding::LF, der)
            .expect("PEM encoding of in-memory bytes cannot fail"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_several_blocks_and_ignores_text_between() {
        let a = encode("CERTIFICATE", b"abc");
        let b = encode("RSA PRIVATE KEY", b"defg");
        let text = format!("comment\n{}\nmiddle\n{}", a.as_str(), b.as_str());
        let got = blocks(&text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].label, "CERTIFICATE");
        assert_eq!(got[0].der.as_slice(), b"abc");
        assert_eq!(got[1].label, "RSA PRIVATE KEY");
        assert_eq!(got[1].der.as_slice(), b"defg");
    }

    #[test]
    fn unterminated_block_is_an_error() {
        assert!(blocks("-----BEGIN CERTIFICATE-----\nYWJj\n").is_err());
        assert!(blocks("no pem here").unwrap().is_empty());
    }
}
