//! The pure half of a read: which version to ask for, and how a fetched payload becomes the
//! bytes of one value (`property`) or of many (extract), as ESO's `GetSecret`/`GetSecretMap`
//! do (spec §6.3). The gjson paths and value rules are [`crate::external::property`]'s.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use super::super::request::{ProviderError, Ref};
use crate::external::property::{self, PropertyError};

/// What `GetSecretValue` (or the tags of `DescribeSecret`) returned for one key and version.
#[derive(Default)]
pub(super) struct Payload {
    pub(super) string: Option<Zeroizing<String>>,
    pub(super) binary: Option<Zeroizing<Vec<u8>>>,
}

impl Payload {
    /// The value as a read (`GetSecretValue`, or an entry of `BatchGetSecretValue`) returns
    /// it.
    pub(super) fn read(string: Option<String>, binary: Option<Vec<u8>>) -> Payload {
        Payload {
            string: string.map(Zeroizing::new),
            binary: binary.map(Zeroizing::new),
        }
    }
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
    let map: serde_json::Map<String, serde_json::Value> = tags
        .into_iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
        .collect();
    property::go_json_marshal(&serde_json::Value::Object(map))
}

/// ESO's `GetSecret` over a fetched payload: the string (or binary) as is, or with a
/// `property`, its value in the binary if there is one, else in the string
/// ([`property::aws_property`]).
pub(super) fn select(payload: &Payload, r: &Ref) -> Result<Vec<u8>, ProviderError> {
    let Some(property) = r.property.as_deref().filter(|p| !p.is_empty()) else {
        return match (&payload.string, &payload.binary) {
            (Some(s), _) => Ok(s.as_bytes().to_vec()),
            (None, Some(b)) => Ok(b.to_vec()),
            (None, None) => Err(ProviderError::Failed(format!(
                "invalid secret received. no secret string nor binary for key: {}",
                r.key
            ))),
        };
    };
    // ESO reads a property from the binary when there is one.
    let text: &[u8] = match (&payload.binary, &payload.string) {
        (Some(b), _) => b,
        (None, Some(s)) => s.as_bytes(),
        (None, None) => b"",
    };
    match property::aws_property(text, property) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(ProviderError::Config(format!(
            "key {property} does not exist in secret {}",
            r.key
        ))),
        Err(e) => Err(unsupported(&e, &r.key)),
    }
}

/// A property sealbox cannot evaluate: a store-side mistake to fix, naming the property.
fn unsupported(e: &PropertyError, key: &str) -> ProviderError {
    ProviderError::Config(format!("remoteRef.property of secret {key}: {e}"))
}

/// ESO's `GetSecretMap` ([`property::aws_secret_map`]); the error names the key, never the value.
pub(super) fn extract(
    payload: &[u8],
    key: &str,
) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
    property::aws_secret_map(payload).map_err(|e| {
        ProviderError::Failed(format!(
            "unable to unmarshal secret {key}: {e} (dataFrom.extract needs a JSON object: use data[].remoteRef instead, or point property at an object)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PERSON: &str = r#"{"name":{"first":"Tom","last":"Anderson"},"age":37,"ratio":1.50,
        "big":1e3,"ok":true,"none":null,"friends":[{"first":"Dale"},{"first":"Roger","n":[1, 2]}],
        "a.b":"literal","a":{"b":"nested"},"c":{"d.e":"deep"}}"#;

    fn string(s: &str) -> Payload {
        Payload {
            string: Some(Zeroizing::new(s.to_owned())),
            binary: None,
        }
    }

    fn at(property: &str) -> Ref {
        Ref {
            key: "team/db".into(),
            property: Some(property.into()),
            ..Ref::default()
        }
    }

    fn prop(p: &str) -> Option<String> {
        match select(&string(PERSON), &at(p)) {
            Ok(v) => Some(String::from_utf8(v).unwrap()),
            Err(ProviderError::Config(msg)) if msg.contains("does not exist") => None,
            Err(e) => panic!("{e:?}"),
        }
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
        assert_eq!(
            prop("friends.#.first").as_deref(),
            Some(r#"["Dale","Roger"]"#)
        );
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
    }

    #[test]
    fn a_missing_property_is_eso_s_error_and_a_plain_text_payload_has_none() {
        let err = select(&string("plain text"), &at("a")).unwrap_err();
        assert_eq!(
            err,
            ProviderError::Config("key a does not exist in secret team/db".into())
        );
    }

    #[test]
    fn an_unsupported_property_is_a_config_error_naming_it() {
        let Err(ProviderError::Config(msg)) =
            select(&string(PERSON), &at("friends.#(first==Dale)"))
        else {
            panic!("not a Config error")
        };
        assert!(msg.contains("team/db"), "{msg}");
        assert!(msg.contains("friends.#(first==Dale)"), "{msg}");
        assert!(!msg.contains("Tom"), "{msg}");
    }

    #[test]
    fn a_property_is_read_from_the_binary_when_there_is_one() {
        let payload = Payload {
            string: Some(Zeroizing::new(r#"{"a":"string"}"#.to_owned())),
            binary: Some(Zeroizing::new(br#"{"a":"binary"}"#.to_vec())),
        };
        assert_eq!(select(&payload, &at("a")).unwrap(), b"binary");
        let whole = Ref {
            property: None,
            ..at("")
        };
        assert_eq!(select(&payload, &whole).unwrap(), br#"{"a":"string"}"#);
        let Err(ProviderError::Failed(msg)) = select(&Payload::default(), &whole) else {
            panic!("not Failed")
        };
        assert!(msg.ends_with("for key: team/db"), "{msg}");
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
        for payload in [
            &br#""hunter2""#[..],
            b"[1]",
            b"hunter2",
            br#"{"a":"hunter2""#,
        ] {
            let ProviderError::Failed(msg) = extract(payload, "team/db").unwrap_err() else {
                panic!("not Failed")
            };
            assert!(
                msg.starts_with("unable to unmarshal secret team/db: "),
                "{msg}"
            );
            assert!(msg.contains("JSON object"), "{msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }

    #[test]
    fn tags_become_the_json_object_go_would_marshal() {
        let json = tags_json([("team", "a&b"), ("env", "<prod>")]);
        assert_eq!(json, r#"{"env":"\u003cprod\u003e","team":"a\u0026b"}"#);
        assert_eq!(prop_of(&json, "env"), "<prod>");
    }

    fn prop_of(json: &str, p: &str) -> String {
        String::from_utf8(select(&string(json), &at(p)).unwrap()).unwrap()
    }
}
