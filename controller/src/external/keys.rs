//! The key and value pipeline ESO runs on what a provider returned, before it becomes Secret
//! `data` (spec `external-secrets.md` §5.3 step 10, §13; ESO `runtime/esutils/utils.go`,
//! `runtime/decoding/decoding.go`, `externalsecret_controller_secret.go`).
//!
//! Which function when, in ESO's order:
//! - `dataFrom[].extract` / `.find`: [`convert_keys`] (only when there is no `rewrite`), then
//!   [`validate_keys`], then [`decode_map`], then [`check_null_bytes_map`];
//! - `dataFrom[]` with a generator: [`validate_keys`] after the rewrite;
//! - `data[]`: [`decode`], then [`check_null_bytes`] under `secretKey`;
//! - the strategy fields of a remoteRef / find: [`Conversion::from_spec`],
//!   [`Decoding::from_spec`], [`NullBytePolicy::from_spec`] (absent or `""` is the default, as
//!   ESO does in code since the CRD defaults were dropped, §2.1).
//!
//! Errors name keys and strategies, never values.
//!
//! ```
//! use std::collections::BTreeMap;
//! use sealbox_controller::external::keys::{self, Conversion, Decoding};
//!
//! let mut map = BTreeMap::new();
//! map.insert("team/app/db".to_string(), b"cGFzcw==".to_vec());
//! map.insert(String::new(), b"dropped".to_vec());
//! let mut map = keys::convert_keys(map, Conversion::from_spec(None)?).unwrap();
//! keys::validate_keys(&mut map).unwrap();
//! let map = keys::decode_map(map, Decoding::from_spec(Some("Auto"))?).unwrap();
//! assert_eq!(map["team_app_db"], b"pass");
//! assert_eq!(map.len(), 1);
//! # Ok::<(), String>(())
//! ```

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Longest Secret key Kubernetes accepts (and ESO checks).
pub const MAX_KEY_LEN: usize = 253;

/// A character ESO replaces (conversion) or rejects (validation): not a Unicode letter (Go
/// `unicode.IsLetter`, category L), not a Unicode number (`unicode.IsNumber`, category N), and
/// not `-`, `.`, `_`. Note `char::is_alphabetic` is wider than category L (it includes marks
/// such as U+093E), so the general categories are used. The Unicode version is the regex
/// crate's, which may be newer than the Go release ESO was built with.
static NOT_KEY_CHAR: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"[^\p{L}\p{N}._-]").expect("constant regex compiles"));

/// A problem with a key or a value in the pipeline. Messages name keys, never values.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Two provider keys became the same key after conversion.
    #[error(
        "secret key collision during conversion (conversionStrategy={strategy}): keys {first:?} \
         and {second:?} both become {converted:?}; rename one with a dataFrom rewrite"
    )]
    Collision {
        /// The strategy that was applied.
        strategy: Conversion,
        /// The key both became.
        converted: String,
        /// The first original key (byte order).
        first: String,
        /// The second original key.
        second: String,
    },
    /// A key longer than 253 bytes.
    #[error(
        "invalid secret keys (TIP: use rewrite or conversionStrategy to change keys): key has \
         length {len} but max is 253: (following is truncated): {truncated}"
    )]
    TooLong {
        /// The key's length in bytes.
        len: usize,
        /// The key cut to at most 253 bytes (at a character boundary).
        truncated: String,
    },
    /// A key with a character Kubernetes does not allow in Secret keys.
    #[error(
        "invalid secret keys (TIP: use rewrite or conversionStrategy to change keys): key has \
         invalid character {ch}, only alphanumeric, '-', '.' and '_' are allowed: {key}"
    )]
    InvalidChar {
        /// The offending character.
        ch: char,
        /// The key.
        key: String,
    },
    /// A value that is not valid for its decoding strategy.
    #[error(
        "error applying decoding strategy {strategy} to data: failure decoding key {key}: \
         {reason} (set decodingStrategy to None or Auto if the value is not encoded)"
    )]
    Decode {
        /// The strategy that failed.
        strategy: Decoding,
        /// The key of the value (`""` when decoding a lone value without a key).
        key: String,
        /// What is wrong, with a byte offset at most (never the value).
        reason: String,
    },
    /// A value with a NUL byte under `nullBytePolicy: Fail`.
    #[error(
        "fetched secret value for key {key:?} contains null bytes; use a text-safe format such \
         as PEM/base64 or leave nullBytePolicy unset for intentional binary data"
    )]
    NullByte {
        /// The key of the value.
        key: String,
    },
}

/// `conversionStrategy` of a remoteRef or find: how characters not allowed in Secret keys are
/// replaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Conversion {
    /// Every such character becomes `_`.
    #[default]
    Default,
    /// Every such character becomes `_U<hex code point, at least 4 digits>_`.
    Unicode,
}

impl Conversion {
    /// Parses the field; absent or `""` is `Default`.
    pub fn from_spec(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("") {
            "" | "Default" => Ok(Self::Default),
            "Unicode" => Ok(Self::Unicode),
            other => Err(format!(
                "conversionStrategy {other:?} is not supported: use Default or Unicode"
            )),
        }
    }
}

impl fmt::Display for Conversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Default => "Default",
            Self::Unicode => "Unicode",
        })
    }
}

/// `decodingStrategy` of a remoteRef or find.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Decoding {
    /// Values are used as they are.
    #[default]
    None,
    /// Standard base64 with padding (Go `base64.StdEncoding`).
    Base64,
    /// URL-safe base64 with padding (Go `base64.URLEncoding`).
    Base64Url,
    /// Standard base64, else URL-safe base64, else the value unchanged.
    Auto,
}

impl Decoding {
    /// Parses the field; absent or `""` is `None`.
    pub fn from_spec(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("") {
            "" | "None" => Ok(Self::None),
            "Base64" => Ok(Self::Base64),
            "Base64URL" => Ok(Self::Base64Url),
            "Auto" => Ok(Self::Auto),
            other => Err(format!(
                "decodingStrategy {other:?} is not supported: use None, Base64, Base64URL or Auto"
            )),
        }
    }
}

impl fmt::Display for Decoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "None",
            Self::Base64 => "Base64",
            Self::Base64Url => "Base64URL",
            Self::Auto => "Auto",
        })
    }
}

/// `nullBytePolicy` of a remoteRef or find.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NullBytePolicy {
    /// NUL bytes are kept (binary data).
    #[default]
    Ignore,
    /// A value with a NUL byte fails the sync.
    Fail,
}

impl NullBytePolicy {
    /// Parses the field; absent or `""` is `Ignore`.
    pub fn from_spec(value: Option<&str>) -> Result<Self, String> {
        match value.unwrap_or("") {
            "" | "Ignore" => Ok(Self::Ignore),
            "Fail" => Ok(Self::Fail),
            other => Err(format!(
                "nullBytePolicy {other:?} is not supported: use Ignore or Fail"
            )),
        }
    }
}

/// One key converted by `strategy` (ESO's `convert`).
pub fn convert(key: &str, strategy: Conversion) -> String {
    NOT_KEY_CHAR
        .replace_all(key, |caps: &regex::Captures<'_>| {
            let ch = caps[0].chars().next().unwrap_or('\u{fffd}');
            match strategy {
                Conversion::Default => "_".to_string(),
                Conversion::Unicode => format!("_U{:04x}_", u32::from(ch)),
            }
        })
        .into_owned()
}

/// Converts every key of `map` (ESO's `ConvertKeys`). Two keys that become the same key are an
/// error naming both; ESO names only the converted key, and which value it kept was random.
pub fn convert_keys(
    map: BTreeMap<String, Vec<u8>>,
    strategy: Conversion,
) -> Result<BTreeMap<String, Vec<u8>>, KeyError> {
    let mut out = BTreeMap::new();
    let mut origin: BTreeMap<String, String> = BTreeMap::new();
    for (key, value) in map {
        let converted = convert(&key, strategy);
        match out.entry(converted.clone()) {
            Entry::Occupied(_) => {
                return Err(KeyError::Collision {
                    strategy,
                    first: origin.remove(&converted).unwrap_or_default(),
                    second: key,
                    converted,
                });
            }
            Entry::Vacant(slot) => {
                slot.insert(value);
                origin.insert(converted, key);
            }
        }
    }
    Ok(out)
}

/// ESO's `ValidateKeys`: drops the empty key (a provider entry with no name), then requires
/// every key to be at most 253 bytes of letters, numbers, `-`, `.` and `_`. Keys are checked
/// in byte order, so the error is deterministic (ESO's map order is random).
pub fn validate_keys(map: &mut BTreeMap<String, Vec<u8>>) -> Result<(), KeyError> {
    map.remove("");
    for key in map.keys() {
        if key.len() > MAX_KEY_LEN {
            let mut cut = MAX_KEY_LEN;
            while !key.is_char_boundary(cut) {
                cut -= 1;
            }
            return Err(KeyError::TooLong {
                len: key.len(),
                truncated: key[..cut].to_string(),
            });
        }
        if let Some(bad) = NOT_KEY_CHAR.find(key) {
            return Err(KeyError::InvalidChar {
                ch: bad.as_str().chars().next().unwrap_or('\u{fffd}'),
                key: key.clone(),
            });
        }
    }
    Ok(())
}

/// Go's padded, non-strict decoders: padding is required, non-zero trailing bits are ignored.
fn go_engine(alphabet: &base64::alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    )
}

static STD: LazyLock<GeneralPurpose> = LazyLock::new(|| go_engine(&base64::alphabet::STANDARD));
static URL: LazyLock<GeneralPurpose> = LazyLock::new(|| go_engine(&base64::alphabet::URL_SAFE));

/// Go's base64 decoders skip `\r` and `\n` anywhere in the input.
fn go_base64(engine: &GeneralPurpose, value: &[u8]) -> Result<Vec<u8>, String> {
    let result = if value.iter().any(|b| *b == b'\r' || *b == b'\n') {
        let stripped: Vec<u8> = value
            .iter()
            .copied()
            .filter(|b| *b != b'\r' && *b != b'\n')
            .collect();
        engine.decode(stripped)
    } else {
        engine.decode(value)
    };
    // The base64 crate's messages quote the offending byte; a byte of a secret stays out.
    result.map_err(|e| match e {
        base64::DecodeError::InvalidByte(at, _) | base64::DecodeError::InvalidLastSymbol(at, _) => {
            format!("illegal base64 data at input byte {at}")
        }
        base64::DecodeError::InvalidLength(len) => {
            format!("illegal base64 data: {len} symbols is not a whole number of padded blocks")
        }
        base64::DecodeError::InvalidPadding => "illegal base64 data: bad padding".to_string(),
    })
}

fn decode_inner(value: &[u8], strategy: Decoding) -> Result<Vec<u8>, String> {
    match strategy {
        Decoding::None => Ok(value.to_vec()),
        Decoding::Base64 => go_base64(&STD, value),
        Decoding::Base64Url => go_base64(&URL, value),
        Decoding::Auto => Ok(go_base64(&STD, value)
            .or_else(|_| go_base64(&URL, value))
            .unwrap_or_else(|_| value.to_vec())),
    }
}

/// Decodes one value (ESO's `decoding.Decode`); `key` only names it in the error.
pub fn decode(key: &str, value: &[u8], strategy: Decoding) -> Result<Vec<u8>, KeyError> {
    decode_inner(value, strategy).map_err(|reason| KeyError::Decode {
        strategy,
        key: key.to_string(),
        reason,
    })
}

/// Decodes every value of `map` (ESO's `DecodeMap`).
pub fn decode_map(
    map: BTreeMap<String, Vec<u8>>,
    strategy: Decoding,
) -> Result<BTreeMap<String, Vec<u8>>, KeyError> {
    if strategy == Decoding::None {
        return Ok(map);
    }
    map.into_iter()
        .map(|(key, value)| {
            let decoded = decode(&key, &value, strategy)?;
            Ok((key, decoded))
        })
        .collect()
}

/// `nullBytePolicy: Fail` for one value stored under `key` (ESO's `validateFetchedSecretValue`).
pub fn check_null_bytes(key: &str, value: &[u8], policy: NullBytePolicy) -> Result<(), KeyError> {
    if policy == NullBytePolicy::Fail && value.contains(&0) {
        return Err(KeyError::NullByte {
            key: key.to_string(),
        });
    }
    Ok(())
}

/// `nullBytePolicy: Fail` over a map, first offending key in byte order (as ESO sorts them).
pub fn check_null_bytes_map(
    map: &BTreeMap<String, Vec<u8>>,
    policy: NullBytePolicy,
) -> Result<(), KeyError> {
    map.iter()
        .try_for_each(|(key, value)| check_null_bytes(key, value, policy))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.to_vec()))
            .collect()
    }

    #[test]
    fn strategies_parse_absent_and_empty_as_default() {
        assert_eq!(Conversion::from_spec(None), Ok(Conversion::Default));
        assert_eq!(Conversion::from_spec(Some("")), Ok(Conversion::Default));
        assert_eq!(
            Conversion::from_spec(Some("Unicode")),
            Ok(Conversion::Unicode)
        );
        assert_eq!(Decoding::from_spec(None), Ok(Decoding::None));
        assert_eq!(Decoding::from_spec(Some("")), Ok(Decoding::None));
        assert_eq!(Decoding::from_spec(Some("Base64")), Ok(Decoding::Base64));
        assert_eq!(
            Decoding::from_spec(Some("Base64URL")),
            Ok(Decoding::Base64Url)
        );
        assert_eq!(Decoding::from_spec(Some("Auto")), Ok(Decoding::Auto));
        assert_eq!(NullBytePolicy::from_spec(None), Ok(NullBytePolicy::Ignore));
        assert_eq!(
            NullBytePolicy::from_spec(Some("Fail")),
            Ok(NullBytePolicy::Fail)
        );
    }

    #[test]
    fn strategy_parse_errors_name_field_and_accepted_values() {
        let e = Conversion::from_spec(Some("default")).unwrap_err();
        assert!(
            e.contains("conversionStrategy") && e.contains("Default or Unicode"),
            "{e}"
        );
        let e = Decoding::from_spec(Some("base64")).unwrap_err();
        assert!(
            e.contains("decodingStrategy") && e.contains("Base64URL"),
            "{e}"
        );
        let e = NullBytePolicy::from_spec(Some("Drop")).unwrap_err();
        assert!(
            e.contains("nullBytePolicy") && e.contains("Ignore or Fail"),
            "{e}"
        );
    }

    #[test]
    fn default_conversion_replaces_every_other_rune_with_underscore() {
        assert_eq!(convert("team/app/db", Conversion::Default), "team_app_db");
        assert_eq!(convert("a b:c@d", Conversion::Default), "a_b_c_d");
        assert_eq!(convert("ok-._9", Conversion::Default), "ok-._9");
        // Unicode letters and numbers stay (Go unicode.IsLetter / IsNumber).
        assert_eq!(convert("clé/ключ/²", Conversion::Default), "clé_ключ_²");
        // One underscore per rune, not per byte.
        assert_eq!(convert("a😀b", Conversion::Default), "a_b");
        // A combining mark is Alphabetic but not a letter: Go replaces it.
        assert_eq!(convert("का", Conversion::Default), "क_");
    }

    #[test]
    fn unicode_conversion_writes_code_points() {
        assert_eq!(convert("a/b", Conversion::Unicode), "a_U002f_b");
        assert_eq!(convert("a b", Conversion::Unicode), "a_U0020_b");
        assert_eq!(convert("😀", Conversion::Unicode), "_U1f600_");
        assert_eq!(convert("plain", Conversion::Unicode), "plain");
    }

    #[test]
    fn convert_keys_converts_and_detects_collisions_naming_keys_only() {
        let out = convert_keys(map(&[("a/b", b"1"), ("c", b"2")]), Conversion::Default).unwrap();
        assert_eq!(out, map(&[("a_b", b"1"), ("c", b"2")]));

        let err = convert_keys(
            map(&[("a/b", b"secret-1"), ("a_b", b"secret-2")]),
            Conversion::Default,
        )
        .unwrap_err();
        assert_eq!(
            err,
            KeyError::Collision {
                strategy: Conversion::Default,
                converted: "a_b".into(),
                first: "a/b".into(),
                second: "a_b".into(),
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("\"a/b\"") && msg.contains("\"a_b\""), "{msg}");
        assert!(!msg.contains("secret-"), "{msg}");

        // Unicode keeps those two apart.
        assert!(convert_keys(map(&[("a/b", b""), ("a_b", b"")]), Conversion::Unicode).is_ok());
    }

    #[test]
    fn validate_keys_drops_the_empty_key() {
        let mut m = map(&[("", b"x"), ("ok", b"y")]);
        validate_keys(&mut m).unwrap();
        assert_eq!(m, map(&[("ok", b"y")]));
    }

    #[test]
    fn validate_keys_rejects_long_keys_and_bad_characters() {
        let mut m = map(&[(&"k".repeat(253), b"")]);
        validate_keys(&mut m).unwrap();

        let long = "é".repeat(127); // 254 bytes
        let mut m = map(&[(&long, b"")]);
        match validate_keys(&mut m).unwrap_err() {
            KeyError::TooLong { len, truncated } => {
                assert_eq!(len, 254);
                assert_eq!(truncated, "é".repeat(126));
            }
            other => panic!("{other:?}"),
        }

        let mut m = map(&[("a/b", b"value")]);
        let err = validate_keys(&mut m).unwrap_err();
        assert_eq!(
            err,
            KeyError::InvalidChar {
                ch: '/',
                key: "a/b".into()
            }
        );
        assert!(err.to_string().contains("invalid character /"));
        assert!(!err.to_string().contains("value"));

        let mut m = map(&[("ключ-1.x_y", b"")]);
        validate_keys(&mut m).unwrap();
    }

    #[test]
    fn decode_none_and_base64() {
        assert_eq!(decode("k", b"aGk=", Decoding::None).unwrap(), b"aGk=");
        assert_eq!(decode("k", b"aGk=", Decoding::Base64).unwrap(), b"hi");
        assert_eq!(decode("k", b"", Decoding::Base64).unwrap(), b"");
        // Go's StdEncoding requires padding.
        assert!(decode("k", b"aGk", Decoding::Base64).is_err());
        // Go ignores newlines anywhere.
        assert_eq!(decode("k", b"aG\r\nk=\n", Decoding::Base64).unwrap(), b"hi");
        // Non-strict: non-zero trailing bits are dropped (Go: "YR==" is "a").
        assert_eq!(decode("k", b"YR==", Decoding::Base64).unwrap(), b"a");
        // URL alphabet is not the standard one.
        assert!(decode("k", b"-_8=", Decoding::Base64).is_err());
        assert_eq!(
            decode("k", b"-_8=", Decoding::Base64Url).unwrap(),
            vec![0xfb, 0xff]
        );
        assert!(decode("k", b"+/8=", Decoding::Base64Url).is_err());
    }

    #[test]
    fn decode_auto_tries_std_then_url_then_passes_through() {
        assert_eq!(
            decode("k", b"+/8=", Decoding::Auto).unwrap(),
            vec![0xfb, 0xff]
        );
        assert_eq!(
            decode("k", b"-_8=", Decoding::Auto).unwrap(),
            vec![0xfb, 0xff]
        );
        assert_eq!(
            decode("k", b"not base64!", Decoding::Auto).unwrap(),
            b"not base64!"
        );
        // Unpadded is not base64 to Go, so Auto keeps it as is.
        assert_eq!(decode("k", b"aGk", Decoding::Auto).unwrap(), b"aGk");
        // A plain word that happens to be valid base64 is decoded (as in ESO).
        assert_eq!(
            decode("k", b"test", Decoding::Auto).unwrap(),
            vec![0xb5, 0xeb, 0x2d]
        );
    }

    #[test]
    fn decode_errors_name_key_and_strategy_but_not_the_value() {
        let err = decode("db-password", b"hunter2!", Decoding::Base64).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("db-password") && msg.contains("Base64"),
            "{msg}"
        );
        assert!(msg.contains("input byte"), "{msg}");
        assert!(!msg.contains("hunter") && !msg.contains('!'), "{msg}");
    }

    #[test]
    fn decode_map_decodes_every_value() {
        let out = decode_map(map(&[("a", b"aGk="), ("b", b"eW8=")]), Decoding::Base64).unwrap();
        assert_eq!(out, map(&[("a", b"hi"), ("b", b"yo")]));
        let err = decode_map(map(&[("a", b"aGk="), ("b", b"??")]), Decoding::Base64).unwrap_err();
        assert!(matches!(err, KeyError::Decode { ref key, .. } if key == "b"));
    }

    #[test]
    fn null_byte_policy() {
        assert!(check_null_bytes("k", b"a\0b", NullBytePolicy::Ignore).is_ok());
        assert!(check_null_bytes("k", b"ab", NullBytePolicy::Fail).is_ok());
        let err = check_null_bytes("k", b"a\0b", NullBytePolicy::Fail).unwrap_err();
        assert_eq!(err, KeyError::NullByte { key: "k".into() });
        assert!(
            err.to_string()
                .starts_with("fetched secret value for key \"k\" contains null")
        );

        let m = map(&[("z", b"\0"), ("a", b"\0"), ("m", b"ok")]);
        assert_eq!(
            check_null_bytes_map(&m, NullBytePolicy::Fail),
            Err(KeyError::NullByte { key: "a".into() })
        );
        assert!(check_null_bytes_map(&m, NullBytePolicy::Ignore).is_ok());
    }
}
