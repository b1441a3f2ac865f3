//! The pure half of a read: which version to ask for, and how a fetched payload becomes the
//! bytes of one value (`property`) or of many (extract), as ESO's `GetSecret`/`GetSecretMap`
//! do (spec §6.3).

use std::collections::BTreeMap;

use serde_json::value::RawValue;
use zeroize::Zeroizing;

use super::super::ProviderError;

/// What `GetSecretValue` (or the tags of `DescribeSecret`) returned for one key and version.
#[derive(Default)]
pub(super) struct Payload {
    pub(super) string: Option<Zeroizing<String>>,
    pub(super) binary: Option<Zeroizing<Vec<u8>>>,
}

/// The version selector of `GetSecretValue`: ESO's `uuid/<id>` prefix picks a `VersionId`,
/// anything else is a staging label, `AWSCURRENT` when empty.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Version<'a> {
    Stage(&'a str),
    Id(&'a str),
}

impl<'a> Version<'a> {
    pub(super) fn of(version: Option<&'a str>) -> Version<'a> {
        match version.filter(|v| !v.is_empty()) {
            None => Version::Stage("AWSCURRENT"),
            Some(v) => match v.strip_prefix("uuid/") {
                Some(id) => Version::Id(id),
                None => Version::Stage(v),
            },
        }
    }
}

/// The JSON object ESO synthesises from a secret's tags for `metadataPolicy: Fetch`: Go's
/// `json.Marshal` of a `map[string]string` (sorted keys, HTML characters escaped).
pub(super) fn tags_json<'t>(tags: impl IntoIterator<Item = (&'t str, &'t str)>) -> String {
    let map: BTreeMap<&str, &str> = tags.into_iter().collect();
    let json = serde_json::to_string(&map).expect("a map of strings always serialises");
    // These characters only occur inside JSON strings, so replacing them is exactly Go's escaping.
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// The value of `remoteRef.property` in `payload` (ESO's `mapSecretToGjson`): a dotted
/// property that exists as a literal key wins over the nested path it would otherwise be.
pub(super) fn property(payload: &[u8], property: &str) -> Option<Zeroizing<String>> {
    if property.contains('.') {
        let literal = property.replace('.', "\\.");
        if let Some(value) = lookup(payload, &literal) {
            return Some(value);
        }
    }
    lookup(payload, property)
}

// TODO(integrator): use external::property — this covers gjson's plain paths only (`a.b.0`,
// `\.` escapes), not its wildcards, `#` queries or modifiers.
fn lookup(payload: &[u8], path: &str) -> Option<Zeroizing<String>> {
    let mut current: &RawValue = serde_json::from_slice(payload).ok()?;
    for component in path_components(path) {
        let text = current.get();
        current = if text.starts_with('{') {
            let object: BTreeMap<String, &RawValue> = serde_json::from_str(text).ok()?;
            *object.get(&component)?
        } else if text.starts_with('[') {
            let array: Vec<&RawValue> = serde_json::from_str(text).ok()?;
            *array.get(component.parse::<usize>().ok()?)?
        } else {
            return None;
        };
    }
    Some(gjson_string(current))
}

/// Splits a gjson path at unescaped dots; `\x` stands for `x`.
fn path_components(path: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => parts.last_mut().unwrap().extend(chars.next()),
            '.' => parts.push(String::new()),
            c => parts.last_mut().unwrap().push(c),
        }
    }
    parts
}

/// gjson's `Result.String()`: strings unquoted, integers as written, other numbers as Go's
/// `FormatFloat(f, 'f', -1, 64)`, `null` as "", objects and arrays as their raw text.
fn gjson_string(value: &RawValue) -> Zeroizing<String> {
    let text = value.get();
    let out = match text.as_bytes()[0] {
        b'"' => serde_json::from_str::<String>(text).unwrap_or_default(),
        b'n' => String::new(),
        b'-' | b'0'..=b'9' => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            if digits.bytes().all(|b| b.is_ascii_digit()) {
                text.to_owned()
            } else {
                format_float(text.parse::<f64>().unwrap_or(f64::NAN))
            }
        }
        _ => text.to_owned(),
    };
    Zeroizing::new(out)
}

fn format_float(f: f64) -> String {
    match f {
        f if f == f64::INFINITY => "+Inf".into(),
        f if f == f64::NEG_INFINITY => "-Inf".into(),
        // Rust's Display is the shortest round-trip form without an exponent, as Go's 'f', -1.
        f => f.to_string(),
    }
}

/// ESO's `GetSecretMap`: the payload as a JSON object; string values unquoted, `null` as ""
/// (Go's `json.Unmarshal` of null into a string), other values as their raw JSON text.
pub(super) fn extract(
    payload: &[u8],
    key: &str,
) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    let object: BTreeMap<String, &RawValue> =
        serde_json::from_slice(payload).map_err(|e| not_an_object(payload, key, &e))?;
    Ok(object
        .into_iter()
        .map(|(k, v)| {
            let text = v.get();
            let bytes = match text.as_bytes()[0] {
                b'"' | b'n' => gjson_string(v).as_bytes().to_vec(),
                _ => text.as_bytes().to_vec(),
            };
            (k, bytes)
        })
        .collect())
}

/// Why a payload is not a JSON object, without quoting it: serde's messages would.
fn not_an_object(payload: &[u8], key: &str, e: &serde_json::Error) -> ProviderError {
    let what = match serde_json::from_slice::<&RawValue>(payload) {
        Ok(raw) => match raw.get().as_bytes()[0] {
            b'"' => "a JSON string".to_owned(),
            b'[' => "a JSON array".to_owned(),
            b't' | b'f' => "a JSON boolean".to_owned(),
            b'n' => "JSON null".to_owned(),
            _ => "a JSON number".to_owned(),
        },
        Err(_) => format!("not JSON (line {}, column {})", e.line(), e.column()),
    };
    ProviderError::Failed(format!(
        "unable to unmarshal secret {key}: its value is {what}, not a JSON object: extract needs an object (use remoteRef instead, or point property at an object)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERSON: &str = r#"{"name":{"first":"Tom","last":"Anderson"},"age":37,"ratio":1.50,
        "big":1e3,"ok":true,"none":null,"friends":[{"first":"Dale"},{"first":"Roger","n":[1, 2]}],
        "a.b":"literal","a":{"b":"nested"},"c":{"d.e":"deep"}}"#;

    fn prop(p: &str) -> Option<String> {
        property(PERSON.as_bytes(), p).map(|v| v.to_string())
    }

    #[test]
    fn versions_map_to_a_stage_or_an_id_as_eso_does() {
        assert_eq!(Version::of(None), Version::Stage("AWSCURRENT"));
        assert_eq!(Version::of(Some("")), Version::Stage("AWSCURRENT"));
        assert_eq!(
            Version::of(Some("AWSPREVIOUS")),
            Version::Stage("AWSPREVIOUS")
        );
        assert_eq!(Version::of(Some("uuid/1234-ab")), Version::Id("1234-ab"));
        assert_eq!(Version::of(Some("my-uuid/x")), Version::Stage("my-uuid/x"));
    }

    #[test]
    fn properties_follow_gjson_paths() {
        assert_eq!(prop("name.last").as_deref(), Some("Anderson"));
        assert_eq!(prop("friends.1.first").as_deref(), Some("Roger"));
        assert_eq!(prop("friends.2"), None);
        assert_eq!(prop("missing"), None);
        assert_eq!(prop("age.x"), None);
    }

    #[test]
    fn a_dotted_property_that_is_a_literal_key_wins() {
        assert_eq!(prop("a.b").as_deref(), Some("literal"));
        assert_eq!(prop("a").as_deref(), Some(r#"{"b":"nested"}"#));
        assert_eq!(prop(r"c.d\.e").as_deref(), Some("deep"));
    }

    #[test]
    fn values_are_formatted_as_gjson_result_string() {
        assert_eq!(prop("age").as_deref(), Some("37"));
        assert_eq!(prop("ratio").as_deref(), Some("1.5"));
        assert_eq!(prop("big").as_deref(), Some("1000"));
        assert_eq!(prop("ok").as_deref(), Some("true"));
        assert_eq!(prop("none").as_deref(), Some(""));
        assert_eq!(prop("friends.1.n").as_deref(), Some("[1, 2]"));
        assert_eq!(format_float(-0.0), "-0");
        assert_eq!(format_float(1e21), "1000000000000000000000");
        assert_eq!(format_float(f64::INFINITY), "+Inf");
    }

    #[test]
    fn a_payload_that_is_not_json_has_no_properties() {
        assert_eq!(property(b"plain text", "a").map(|v| v.to_string()), None);
    }

    #[test]
    fn extract_unquotes_strings_and_keeps_other_values_raw() {
        let map = extract(
            br#"{"user":"admin","port":5432,"tls":true,"opts":{"a": 1},"none":null,"esc":"a\"b"}"#,
            "db",
        )
        .unwrap();
        let text = |k: &str| String::from_utf8(map[k].clone()).unwrap();
        assert_eq!(text("user"), "admin");
        assert_eq!(text("port"), "5432");
        assert_eq!(text("tls"), "true");
        assert_eq!(text("opts"), r#"{"a": 1}"#);
        assert_eq!(text("none"), "");
        assert_eq!(text("esc"), "a\"b");
    }

    #[test]
    fn extract_of_a_non_object_names_the_key_and_never_the_value() {
        for (payload, what) in [
            (&br#""hunter2""#[..], "a JSON string"),
            (b"[1]", "a JSON array"),
            (b"hunter2", "not JSON"),
        ] {
            let ProviderError::Failed(msg) = extract(payload, "team/db").unwrap_err() else {
                panic!("not Failed")
            };
            assert!(
                msg.starts_with("unable to unmarshal secret team/db"),
                "{msg}"
            );
            assert!(msg.contains(what), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }

    #[test]
    fn tags_become_the_json_object_go_would_marshal() {
        let json = tags_json([("team", "a&b"), ("env", "<prod>")]);
        assert_eq!(json, r#"{"env":"\u003cprod\u003e","team":"a\u0026b"}"#);
        assert_eq!(
            property(json.as_bytes(), "env")
                .as_deref()
                .map(String::as_str),
            Some("<prod>")
        );
    }
}
