//! The dotenv store (spec `sops.md` §2.4, §6.2): `KEY=VALUE` lines split at the first `=`
//! (nothing trimmed), `#` comment lines, `\n` escapes, metadata as `sops_`-prefixed keys.

use super::error::Error;
use super::metadata::Metadata;
use super::value::{Branch, Entry, Scalar, Value};

const METADATA_PREFIX: &str = "sops_";

/// Splits an encrypted dotenv file into its tree and its metadata.
pub fn load_encrypted(text: &str) -> Result<(Branch, Metadata), Error> {
    let mut branch = Branch::new();
    let mut meta = Vec::new();
    for entry in parse(text)? {
        match entry {
            Entry::Pair(key, Value::Scalar(Scalar::Str(value)))
                if key.starts_with(METADATA_PREFIX) =>
            {
                let value = String::from_utf8(value)
                    .map_err(|_| Error::Metadata(format!("{key} is not UTF-8")))?;
                meta.push((key[METADATA_PREFIX.len()..].to_owned(), value));
            }
            other => branch.push(other),
        }
    }
    if meta.is_empty() {
        return Err(Error::NotSopsFile);
    }
    Ok((branch, Metadata::from_flat(&meta)?))
}

/// Parses a plaintext file, refusing one that already carries `sops_` keys (sops exit 203).
pub fn load_plain(text: &str) -> Result<Branch, Error> {
    let branch = parse(text)?;
    if branch
        .iter()
        .any(|e| matches!(e, Entry::Pair(k, _) if k.starts_with(METADATA_PREFIX)))
    {
        return Err(Error::AlreadyEncrypted);
    }
    Ok(branch)
}

/// The encrypted file: the entries, then the metadata as sorted `sops_` keys.
pub fn emit_encrypted(branch: &Branch, meta: &Metadata) -> Result<Vec<u8>, Error> {
    let metadata: Branch = meta
        .to_flat()
        .into_iter()
        .map(|(key, value)| {
            Entry::Pair(
                format!("{METADATA_PREFIX}{key}"),
                Value::Scalar(Scalar::Str(value.into_bytes())),
            )
        })
        .collect();
    let mut out = emit_plain(branch)?;
    out.extend(emit_plain(&metadata)?);
    Ok(out)
}

/// Parses plaintext or encrypted dotenv into entries; every value is a string.
pub fn parse(text: &str) -> Result<Branch, Error> {
    text.split('\n')
        .filter(|line| !line.is_empty())
        .enumerate()
        .map(|(n, line)| {
            if let Some(comment) = line.strip_prefix('#') {
                return Ok(Entry::Comment(comment.to_owned()));
            }
            let (key, value) = line.split_once('=').ok_or_else(|| {
                Error::Store(format!("line {}: expected KEY=VALUE or a # comment", n + 1))
            })?;
            Ok(Entry::Pair(
                key.to_owned(),
                Value::Scalar(Scalar::Str(value.replace("\\n", "\n").into_bytes())),
            ))
        })
        .collect()
}

/// The plaintext form: `#comment` and `KEY=VALUE` lines, newlines in values written as `\n`.
pub fn emit_plain(branch: &Branch) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    for entry in branch {
        match entry {
            Entry::Comment(text) => {
                out.push(b'#');
                out.extend_from_slice(text.as_bytes());
            }
            Entry::Pair(key, Value::Scalar(scalar)) => {
                out.extend_from_slice(key.as_bytes());
                out.push(b'=');
                let bytes = match scalar {
                    Scalar::Str(b) | Scalar::Bytes(b) => b.clone(),
                    Scalar::Bool(true) => b"true".to_vec(),
                    Scalar::Bool(false) => b"false".to_vec(),
                    other => other.to_bytes(),
                };
                for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b"\\n");
                    }
                    out.extend_from_slice(line);
                }
            }
            Entry::Pair(key, _) => {
                return Err(Error::Store(format!(
                    "{key}: cannot use complex value in dotenv file"
                )));
            }
        }
        out.push(b'\n');
    }
    Ok(out)
}
