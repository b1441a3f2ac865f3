//! The Kubernetes objects sealing reads and writes: `v1/Secret` and
//! `bitnami.com/v1alpha1/SealedSecret` (spec `sealed-secrets.md` §2.1, §2.2), and the
//! document streams they come in (multi-document YAML, concatenated JSON).
//!
//! Field order follows the Go structs, so JSON output matches kubeseal's; YAML output is
//! written with sorted keys, as kubeseal's YAML printer does ([`to_yaml`]).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use super::encoding::{decode_base64, encode_base64};
use super::error::Error;

pub const SECRET_API_VERSION: &str = "v1";
pub const SEALED_SECRET_API_VERSION: &str = "bitnami.com/v1alpha1";

/// Annotations that hold a whole applied object, plaintext included (upstream #227): kubeseal
/// strips them from templates, and `Debug` never shows them.
pub const LAST_APPLIED: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// The parts of `metav1.ObjectMeta` that a Secret carries into a SealedSecret template.
/// Server-set fields (uid, resourceVersion, creationTimestamp, managedFields, ...) are read
/// and dropped, as kubeseal strips them.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub generate_name: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub namespace: String,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub annotations: BTreeMap<String, String>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub owner_references: Vec<OwnerReference>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub finalizers: Vec<String>,
}

impl fmt::Debug for ObjectMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let annotations: BTreeMap<&str, &str> = self
            .annotations
            .iter()
            .map(|(k, v)| {
                let v = if LAST_APPLIED.contains(&k.as_str()) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("ObjectMeta")
            .field("name", &self.name)
            .field("generate_name", &self.generate_name)
            .field("namespace", &self.namespace)
            .field("labels", &self.labels)
            .field("annotations", &annotations)
            .field("owner_references", &self.owner_references)
            .field("finalizers", &self.finalizers)
            .finish()
    }
}

/// `metav1.OwnerReference`, as the unsealer sets it on a Secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<bool>,
}

/// Plaintext bytes of a Secret item: base64 on the wire, wiped from memory on drop, never
/// shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct SecretBytes(pub Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> SecretBytes {
        SecretBytes(Zeroizing::new(bytes))
    }
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(encode_base64(&self.0)))
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        decode_base64(&text)
            .map(SecretBytes::new)
            .map_err(serde::de::Error::custom)
    }
}

/// A `stringData` value: plaintext as written, wiped from memory on drop, never shown by
/// `Debug`.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretText(pub Zeroizing<String>);

impl SecretText {
    pub fn new(text: String) -> SecretText {
        SecretText(Zeroizing::new(text))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretText(<{} bytes redacted>)", self.0.len())
    }
}

/// A `v1/Secret`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub api_version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub data: BTreeMap<String, SecretBytes>,
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub string_data: BTreeMap<String, SecretText>,
    #[serde(
        default,
        rename = "type",
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
}

/// The most data the Kubernetes API server accepts in one Secret (`MaxSecretSize`): the sum of
/// its values' sizes, `stringData` merged into `data`.
pub const MAX_SECRET_SIZE: usize = 1024 * 1024;

/// The warning for Secret `secret` (`namespace/name`) of `size` bytes of data over
/// [`MAX_SECRET_SIZE`], as `sealbox seal` and `sealbox encrypt` give it.
pub fn too_big_warning(secret: &str, size: usize) -> String {
    format!(
        "warning: Secret {secret} holds {size} bytes of data ({:.1} MiB), over the {MAX_SECRET_SIZE} bytes (1 MiB) the Kubernetes API server accepts in a Secret: the API server will refuse it",
        size as f64 / 1_048_576.0
    )
}

impl Secret {
    /// The size the API server checks against [`MAX_SECRET_SIZE`]: the bytes of every value,
    /// a `stringData` item replacing the `data` item of the same name.
    pub fn data_size(&self) -> usize {
        let data: usize = self
            .data
            .iter()
            .filter(|(item, _)| !self.string_data.contains_key(*item))
            .map(|(_, v)| v.as_slice().len())
            .sum();
        data + self
            .string_data
            .values()
            .map(|v| v.as_str().len())
            .sum::<usize>()
    }
}

/// A `bitnami.com/v1alpha1/SealedSecret`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecret {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub api_version: String,
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "nullable")]
    pub spec: SealedSecretSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretSpec {
    #[serde(default, deserialize_with = "nullable")]
    pub template: SecretTemplate,
    #[serde(default, deserialize_with = "nullable")]
    pub encrypted_data: BTreeMap<String, String>,
    /// The deprecated v1 format: one ciphertext of a whole JSON Secret (spec `sealed-secrets.md` §1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplate {
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: ObjectMeta,
    #[serde(
        default,
        rename = "type",
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Go text/template strings rendered with the decrypted items by the controller.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub data: BTreeMap<String, Option<String>>,
}

impl SealedSecret {
    pub fn new(metadata: ObjectMeta, spec: SealedSecretSpec) -> SealedSecret {
        SealedSecret {
            kind: "SealedSecret".into(),
            api_version: SEALED_SECRET_API_VERSION.into(),
            metadata,
            spec,
        }
    }
}

/// `null` reads as the type's default, as Go's decoder leaves a nil map or zero struct.
fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `namespace/name` for messages (just `name` when there is no namespace).
pub fn object_ref(meta: &ObjectMeta) -> String {
    let name = if meta.name.is_empty() {
        "<unnamed>"
    } else {
        &meta.name
    };
    if meta.namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{}/{}", meta.namespace, name)
    }
}

/// Decodes every document of a YAML stream (`---`-separated) or of concatenated JSON objects.
/// Empty documents are skipped, as kubeseal's decoder does.
pub fn parse_documents<T: DeserializeOwned>(text: &str) -> Result<Vec<T>, Error> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        serde_json::Deserializer::from_str(trimmed)
            .into_iter::<T>()
            .enumerate()
            .map(|(i, doc)| {
                doc.map_err(|e| {
                    Error::Manifest(format!(
                        "JSON document {}: {}",
                        i + 1,
                        redact(&e.to_string())
                    ))
                })
            })
            .collect()
    } else {
        // No source snippets: the lines around an error may hold secret values.
        let options = serde_saphyr::options! { with_snippet: false };
        serde_saphyr::from_multiple_with_options::<Option<T>>(text, options)
            .map(|docs| docs.into_iter().flatten().collect())
            .map_err(|e| Error::Manifest(format!("malformed YAML: {}", yaml_message(&e))))
    }
}

/// The parser's message in words for people: no library settings or type names, and no
/// quoted values (see [`redact`]).
fn yaml_message(error: &serde_saphyr::Error) -> String {
    let at = error.location().map_or(String::new(), |l| {
        format!(" at line {}, column {}", l.line(), l.column())
    });
    match error.without_snippet() {
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => match key {
            Some(key) => format!("the key {key} appears twice in one mapping{at}: keep one"),
            None => format!("a key appears twice in one mapping{at}: keep one"),
        },
        serde_saphyr::Error::Budget { .. } => format!(
            "the input is larger or more deeply nested than sealbox reads (its limit against YAML bombs){at}: split it into smaller documents"
        ),
        other => redact(&other.to_string()),
    }
}

/// Parser messages quote the offending value (`invalid type: string "hunter2"`, `integer
/// \`482913\``), which may be a secret. Every quoted or backticked span is replaced; the line
/// and column remain. For any YAML or JSON parser message about a file that may hold secrets
/// (manifests here, kubeconfigs in the CLI).
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    match (c, escaped) {
                        ('\\', false) => escaped = true,
                        ('"', false) => break,
                        _ => escaped = false,
                    }
                }
                out.push_str("\"<redacted>\"");
            }
            '`' => {
                chars.by_ref().find(|c| *c == '`');
                out.push_str("`<redacted>`");
            }
            c => out.push(c),
        }
    }
    out
}

/// Just enough of an object to say what it is, read before the full typed decode so a wrong
/// kind is reported as such rather than as a field error.
#[derive(Deserialize)]
struct Head {
    #[serde(default)]
    kind: String,
    #[serde(default, deserialize_with = "nullable")]
    metadata: HeadMeta,
}

#[derive(Deserialize, Default)]
struct HeadMeta {
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    namespace: String,
}

/// [`parse_documents`] for a stream that must hold only objects of `kind`.
pub fn parse_objects<T: DeserializeOwned>(text: &str, kind: &str) -> Result<Vec<T>, Error> {
    for (index, head) in parse_documents::<Head>(text)?.iter().enumerate() {
        if head.kind != kind {
            let meta = ObjectMeta {
                name: head.metadata.name.clone(),
                namespace: head.metadata.namespace.clone(),
                ..Default::default()
            };
            return Err(Error::Manifest(format!(
                "document {} ({}) is a {:?}, not a {kind}",
                index + 1,
                object_ref(&meta),
                head.kind
            )));
        }
    }
    parse_documents(text)
}

/// Output formats of kubeseal's `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

/// One object in kubeseal's output shape: pretty JSON with Go struct field order and a final
/// newline, or YAML with sorted keys preceded by a `---` line.
pub fn render<T: Serialize>(object: &T, format: Format) -> Result<String, Error> {
    let mut out = String::new();
    render_into(&mut out, object, format)?;
    Ok(out)
}

/// Output to reserve per rendered object beyond its items' text: reserved, not touched, so
/// it costs no memory, and the output never grows by copying itself.
const RENDER_ROOM_PER_OBJECT: usize = 64 * 1024;

/// Output to reserve for rendering `sealed`, or the Secret it opens to (whose items' base64 is
/// shorter than the ciphertexts'), so the output never grows by copying itself.
pub fn render_room(sealed: &SealedSecret) -> usize {
    let items: usize = sealed.spec.encrypted_data.values().map(String::len).sum();
    // A rendered template is usually about as long as its text (plus the items it quotes);
    // a longer one only costs a wiped regrowth.
    let templates: usize = sealed
        .spec
        .template
        .data
        .iter()
        .map(|(k, v)| k.len() + v.as_deref().map_or(0, str::len) * 2)
        .sum();
    let v1 = sealed.spec.data.as_deref().map_or(0, str::len);
    items + templates + v1 + RENDER_ROOM_PER_OBJECT
}

/// [`render`], appended to `out`. YAML is written straight into `out`; whenever `out` must
/// grow, its old buffer is wiped (outputs may hold plaintext).
pub fn render_into<T: Serialize>(
    out: &mut String,
    object: &T,
    format: Format,
) -> Result<(), Error> {
    match format {
        Format::Json => {
            let s = Zeroizing::new(serde_json::to_string_pretty(object).map_err(|e| {
                Error::Encode {
                    format: "JSON",
                    source: e.into(),
                }
            })?);
            WipingWriter(out).push(&s);
            WipingWriter(out).push("\n");
            Ok(())
        }
        Format::Yaml => {
            WipingWriter(out).push("---\n");
            yaml_into(out, object)
        }
    }
}

/// Appends to a `String`, moving it to a buffer twice as large (the old one wiped) when full.
struct WipingWriter<'a>(&'a mut String);

impl WipingWriter<'_> {
    fn push(&mut self, s: &str) {
        let needed = self.0.len() + s.len();
        if needed > self.0.capacity() {
            let mut bigger = String::with_capacity(needed.max(self.0.capacity() * 2));
            bigger.push_str(self.0);
            drop(Zeroizing::new(std::mem::replace(self.0, bigger)));
        }
        self.0.push_str(s);
    }
}

impl fmt::Write for WipingWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s);
        Ok(())
    }
}

/// YAML with every mapping's keys sorted (going through `serde_json::Value`, whose maps are
/// ordered), without a document marker.
pub fn to_yaml<T: Serialize>(object: &T) -> Result<String, Error> {
    let mut out = String::new();
    yaml_into(&mut out, object)?;
    Ok(out)
}

fn yaml_into<T: Serialize>(out: &mut String, object: &T) -> Result<(), Error> {
    let value = serde_json::to_value(object).map_err(|e| Error::Encode {
        format: "YAML",
        source: e.into(),
    })?;
    // One line per ciphertext, as kubeseal writes it: no folded block scalars.
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    let result = serde_saphyr::to_fmt_writer_with_options(&mut WipingWriter(out), &value, options)
        .map_err(|e| Error::Encode {
            format: "YAML",
            source: e.into(),
        });
    wipe_strings(value);
    result
}

/// Wipes the strings of a `serde_json::Value` (it may hold base64 plaintext).
fn wipe_strings(value: serde_json::Value) {
    match value {
        serde_json::Value::String(s) => drop(Zeroizing::new(s)),
        serde_json::Value::Array(items) => items.into_iter().for_each(wipe_strings),
        serde_json::Value::Object(map) => map.into_iter().for_each(|(_, v)| wipe_strings(v)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yaml_secret_with_nulls_and_typed_looking_strings() {
        let docs: Vec<Secret> = parse_documents(
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  creationTimestamp: null\n  labels:\n    enabled: true\n    answer: 042\n    country: NO\ndata:\n  foo: YmFy\nstringData:\n  port: 8080\n---\n---\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 1);
        let s = &docs[0];
        assert_eq!(s.metadata.labels["enabled"], "true");
        assert_eq!(s.metadata.labels["answer"], "042");
        assert_eq!(s.metadata.labels["country"], "NO");
        assert_eq!(s.data["foo"].as_slice(), b"bar");
        assert_eq!(s.string_data["port"].as_str(), "8080");
    }

    #[test]
    fn reads_concatenated_json() {
        let docs: Vec<Secret> = parse_documents(
            r#"{"kind":"Secret","metadata":{"name":"a"}} {"kind":"Secret","metadata":{"name":"b"},"data":null}"#,
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].metadata.name, "b");
    }

    #[test]
    fn yaml_output_sorts_keys_and_json_keeps_go_order() {
        let ss = SealedSecret::new(
            ObjectMeta {
                name: "n".into(),
                namespace: "ns".into(),
                ..Default::default()
            },
            SealedSecretSpec {
                encrypted_data: [("k".to_string(), "AgA=".to_string())].into(),
                ..Default::default()
            },
        );
        let yaml = render(&ss, Format::Yaml).unwrap();
        assert!(
            yaml.starts_with("---\napiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\n"),
            "{yaml}"
        );
        assert!(yaml.find("encryptedData").unwrap() < yaml.find("template").unwrap());
        let json = render(&ss, Format::Json).unwrap();
        assert!(
            json.starts_with("{\n  \"kind\": \"SealedSecret\",\n  \"apiVersion\""),
            "{json}"
        );
        assert!(json.find("template").unwrap() < json.find("encryptedData").unwrap());
        let back: Vec<SealedSecret> = parse_documents(&yaml).unwrap();
        assert_eq!(back, vec![ss]);
    }

    #[test]
    fn parse_errors_never_echo_values() {
        let cases = [
            "kind: Secret\nstringData: hunter2-topsecret\n",
            "kind: Secret\ndata:\n  a: hunter2-topsecret\nmetadata: [oops\n",
            "kind: Secret\nstringData:\n  a: [hunter2-topsecret]\n",
            r#"{"kind": "Secret", "stringData": "hunter2-topsecret"}"#,
            r#"{"kind": "Secret", "data": {"a": "hunter2-topsecret!"}}"#,
            r#"{"kind": "Secret", "stringData": {"pin": 4829130}}"#,
            r#"{"kind": "Secret", "stringData": "{\"password\":\"hunter2\"}"}"#,
            "kind: Secret\nstringData: '{\"password\":\"hunter2\"}'\n",
            "kind: Secret\nstringData:\n  pin: [4829130]\n",
            "kind: Secret\nstringData: 4829130\n",
        ];
        for text in cases {
            let err = parse_documents::<Secret>(text).unwrap_err().to_string();
            assert!(
                !err.contains("hunter2") && !err.contains("4829130"),
                "{err}"
            );
        }
    }

    #[test]
    fn debug_never_shows_plaintext() {
        let docs: Vec<Secret> =
            parse_documents("kind: Secret\ndata: {a: aHVudGVyMg==}\nstringData: {b: hunter2}\n")
                .unwrap();
        let debug = format!("{:?}", docs[0]);
        assert!(
            !debug.contains("hunter2") && !debug.contains("aHVudGVyMg"),
            "{debug}"
        );
    }

    #[test]
    fn malformed_yaml_is_an_error() {
        assert!(parse_documents::<Secret>("kind: Secret\nmetadata: [oops\n").is_err());
    }
}
