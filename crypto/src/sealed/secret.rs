//! Whole-object semantics: kubeseal's `NewSealedSecret` (Secret → SealedSecret) and the
//! controller's `Unseal` (SealedSecret → Secret), spec `sealed-secrets.md` §2.3, §4.2.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::manifest::{
    LAST_APPLIED, OwnerReference, SEALED_SECRET_API_VERSION, SECRET_API_VERSION, SealedSecretSpec,
    SecretTemplate, object_ref,
};

/// Template annotation: no owner reference on the Secret (spec `sealed-secrets.md` §2.4).
pub const SKIP_SET_OWNER_REFERENCES: &str = "sealedsecrets.bitnami.com/skip-set-owner-references";
use super::encoding::{decode_base64, encode_base64};
use super::error::Error;
use super::hybrid;
use super::keys::{PrivateKey, PublicKey};
use super::manifest::{ObjectMeta, SealedSecret, Secret, SecretBytes};
use super::scope::Scope;
use crate::template::{Template, Value};

/// Seals a Secret whose name, namespace and scope annotations are already final (the caller
/// applies `--name`, `--namespace` and `--scope`; see [`Scope::apply_to`]).
///
/// The SealedSecret's own metadata carries only name, namespace and the scope annotation; the
/// template carries the Secret's metadata (minus owner references and last-applied
/// annotations), type and immutability. `stringData` is sealed after `data`, so it wins.
pub fn seal_secret(secret: &Secret, key: &PublicKey) -> Result<SealedSecret, Error> {
    let meta = &secret.metadata;
    let scope = Scope::from_annotations(&meta.annotations);
    if meta.name.is_empty() {
        return Err(Error::Manifest(
            "missing metadata.name in input Secret (set it or pass --name)".into(),
        ));
    }
    if meta.namespace.is_empty() && scope != Scope::ClusterWide {
        return Err(Error::Manifest(format!(
            "Secret {}: secret must declare a namespace (set metadata.namespace, pass --namespace, or use --scope cluster-wide)",
            object_ref(meta)
        )));
    }
    let label = scope.label(&meta.namespace, &meta.name);

    let mut encrypted_data = BTreeMap::new();
    for (item, value) in &secret.data {
        let ct = hybrid::seal(key, value.as_slice(), &label)?;
        encrypted_data.insert(item.clone(), encode_base64(&ct));
    }
    for (item, value) in &secret.string_data {
        let ct = hybrid::seal(key, value.as_str().as_bytes(), &label)?;
        encrypted_data.insert(item.clone(), encode_base64(&ct));
    }

    let mut template_meta = meta.clone();
    template_meta.owner_references.clear();
    for annotation in LAST_APPLIED {
        template_meta.annotations.remove(annotation);
    }
    let mut own_annotations = BTreeMap::new();
    scope.apply_to(&mut own_annotations);
    Ok(SealedSecret::new(
        ObjectMeta {
            name: meta.name.clone(),
            namespace: meta.namespace.clone(),
            annotations: own_annotations,
            ..Default::default()
        },
        SealedSecretSpec {
            template: SecretTemplate {
                metadata: template_meta,
                type_: secret.type_.clone(),
                immutable: secret.immutable,
                data: BTreeMap::new(),
            },
            encrypted_data,
            data: None,
        },
    ))
}

/// How one `encryptedData` item fared.
#[derive(Debug)]
pub struct ItemResult {
    pub item: String,
    pub outcome: Result<(SecretBytes, usize), ItemFailure>,
}

/// Why one item did not open, with a hint when it opens under another scope.
#[derive(Debug)]
pub struct ItemFailure {
    pub error: Error,
    /// The item opens with this other scope's label: the SealedSecret's scope annotations do
    /// not match how it was sealed.
    pub opens_under: Option<Scope>,
}

/// Opens every `encryptedData` item independently with the label from the SealedSecret's own
/// metadata (never the template's). `keys` are tried in order, so pass the newest first; the
/// key that opened an item is tried first for the next ones, as items are usually sealed
/// together. Each result names its key by its index in `keys`. A deprecated v1 `spec.data`
/// is one more ciphertext, reported as item `data` (whether it holds a JSON Secret is
/// checked by [`unseal`]).
pub fn open_items(sealed: &SealedSecret, keys: &[PrivateKey]) -> Vec<ItemResult> {
    let meta = &sealed.metadata;
    let scope = Scope::from_annotations(&meta.annotations);
    let label = scope.label(&meta.namespace, &meta.name);
    let mut order = keys.to_vec();
    let mut index_of: Vec<usize> = (0..keys.len()).collect();
    let mut results = Vec::with_capacity(sealed.spec.encrypted_data.len() + 1);
    let items = sealed.spec.encrypted_data.iter();
    let v1 = sealed.spec.data.iter().map(|b64| (V1_ITEM, b64));
    for (item, b64) in items.map(|(k, b64)| (k.as_str(), b64)).chain(v1) {
        let outcome = decode_base64(b64)
            .and_then(|ct| hybrid::open(&order, &ct, &label))
            .map(|(plaintext, at)| {
                let index = index_of[at];
                order[..=at].rotate_right(1);
                index_of[..=at].rotate_right(1);
                (SecretBytes(plaintext), index)
            })
            .map_err(|error| {
                let opens_under = matches!(error, Error::NoKeyCouldDecrypt)
                    .then(|| other_scope_that_opens(sealed, scope, b64, keys))
                    .flatten();
                ItemFailure { error, opens_under }
            });
        results.push(ItemResult {
            item: item.to_owned(),
            outcome,
        });
    }
    results
}

/// Costs one RSA operation per key and scope, only on failure.
fn other_scope_that_opens(
    sealed: &SealedSecret,
    tried: Scope,
    b64: &str,
    keys: &[PrivateKey],
) -> Option<Scope> {
    let ct = decode_base64(b64).ok()?;
    let meta = &sealed.metadata;
    Scope::ALL
        .into_iter()
        .filter(|s| *s != tried)
        .find(|s| hybrid::open(keys, &ct, &s.label(&meta.namespace, &meta.name)).is_ok())
}

/// A SealedSecret that did not unseal: which object, and every failing item.
#[derive(Debug)]
pub struct UnsealError {
    pub object: String,
    pub kind: UnsealErrorKind,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum UnsealErrorKind {
    /// One or more items failed; no Secret is produced (all-or-nothing).
    Items(Vec<(String, ItemFailure)>),
    /// The object is not a SealedSecret or uses a form offline unseal does not support.
    Unsupported(String),
}

impl std::error::Error for UnsealError {}

impl fmt::Display for UnsealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            UnsealErrorKind::Unsupported(why) => write!(f, "SealedSecret {}: {why}", self.object),
            UnsealErrorKind::Items(failures) => {
                // Group identical errors with their items, like upstream's multierror text.
                let mut grouped: BTreeMap<String, Vec<&str>> = BTreeMap::new();
                for (item, failure) in failures {
                    grouped
                        .entry(failure.error.to_string())
                        .or_default()
                        .push(item);
                }
                let parts: Vec<String> = grouped
                    .iter()
                    .map(|(error, items)| format!("{error} ({})", items.join(", ")))
                    .collect();
                write!(f, "SealedSecret {}: {}", self.object, parts.join("; "))?;
                for (item, failure) in failures {
                    if let Some(scope) = failure.opens_under {
                        write!(
                            f,
                            "\n  item {item:?} opens under scope {scope}: put the matching scope annotation on the SealedSecret's own metadata (not only in spec.template), or re-seal with --scope {scope}"
                        )?;
                    }
                }
                if failures.iter().any(|(_, f)| {
                    f.opens_under.is_none() && matches!(f.error, Error::NoKeyCouldDecrypt)
                }) {
                    write!(
                        f,
                        "\n  hint: either none of the keys given is the one it was sealed with, or the SealedSecret's name, namespace or scope differ from what it was sealed for (strict scope binds both name and namespace); the ciphertext may also have been altered"
                    )?;
                }
                Ok(())
            }
        }
    }
}

/// The owner reference the controller puts on the Secret of `sealed` (spec `sealed-secrets.md` §2.3 step 6), or
/// `None` when its template carries `skip-set-owner-references: "true"`. `uid` is the
/// SealedSecret's (empty offline, as kubeseal's recovery unseal leaves it).
pub fn owner_reference(sealed: &SealedSecret, uid: &str) -> Option<OwnerReference> {
    let skip = sealed
        .spec
        .template
        .metadata
        .annotations
        .get(SKIP_SET_OWNER_REFERENCES)
        .is_some_and(|v| v == "true");
    (!skip).then(|| OwnerReference {
        api_version: SEALED_SECRET_API_VERSION.into(),
        kind: "SealedSecret".into(),
        name: sealed.metadata.name.clone(),
        uid: uid.to_owned(),
        controller: Some(true),
    })
}

/// A SealedSecret opened by [`unseal`].
#[derive(Debug)]
pub struct Unsealed {
    pub secret: Secret,
    /// Indexes into the keys given of those that opened the items (a controller remembers
    /// them to try first next time).
    pub opened_with: BTreeSet<usize>,
}

/// How [`unseal_with`] treats the forms upstream gates behind a flag.
#[derive(Debug, Clone, Copy)]
pub struct UnsealOptions {
    /// Open the deprecated v1 `spec.data` (the controller's `--accept-deprecated-v1-data`,
    /// default true; kubeseal's recovery unseal never sets it, spec `sealed-secrets.md` §1.6).
    pub accept_deprecated_v1_data: bool,
}

impl Default for UnsealOptions {
    fn default() -> UnsealOptions {
        UnsealOptions {
            accept_deprecated_v1_data: true,
        }
    }
}

/// The name [`open_items`] and unseal errors give the deprecated v1 `spec.data`.
pub const V1_ITEM: &str = "data";

/// kubeseal's refusal of `spec.data` when the flag is off (`sealedsecret_expansion.go`).
pub const DEPRECATED_V1_REFUSED: &str =
    "using deprecated 'data' field, use 'encryptedData' or flip the feature flag";

/// Unseals a SealedSecret into the Secret the controller would create, all-or-nothing
/// (spec `sealed-secrets.md` §2.3): template metadata with name and namespace forced from
/// the SealedSecret, template type and immutability, every item decrypted, then every
/// `spec.template.data` value rendered as a Go template over the decrypted items (a
/// rendered key replaces a decrypted one of the same name). A deprecated v1 `spec.data` is
/// opened too (see [`unseal_with`]). No owner reference is set; callers that mimic the
/// controller add it. `keys` are tried in order for each item.
pub fn unseal(sealed: &SealedSecret, keys: &[PrivateKey]) -> Result<Unsealed, UnsealError> {
    unseal_with(sealed, keys, UnsealOptions::default())
}

/// [`unseal`] with the options upstream puts behind flags.
pub fn unseal_with(
    sealed: &SealedSecret,
    keys: &[PrivateKey],
    options: UnsealOptions,
) -> Result<Unsealed, UnsealError> {
    let object = object_ref(&sealed.metadata);
    let unsupported = |why: &str| UnsealError {
        object: object.clone(),
        kind: UnsealErrorKind::Unsupported(why.to_owned()),
    };
    if sealed.kind != "SealedSecret" {
        return Err(unsupported(&format!(
            "expected kind SealedSecret, found {:?}",
            sealed.kind
        )));
    }
    if let Some(v1) = &sealed.spec.data {
        if !options.accept_deprecated_v1_data {
            return Err(unsupported(DEPRECATED_V1_REFUSED));
        }
        return open_v1(sealed, v1, keys).map_err(|e| match e {
            V1Error::Unsupported(why) => unsupported(why),
            V1Error::Item(failure) => UnsealError {
                object: object.clone(),
                kind: UnsealErrorKind::Items(vec![(V1_ITEM.into(), failure)]),
            },
        });
    }
    let mut data = BTreeMap::new();
    let mut failures = Vec::new();
    let mut opened_with = BTreeSet::new();
    for result in open_items(sealed, keys) {
        match result.outcome {
            Ok((plaintext, index)) => {
                data.insert(result.item, plaintext);
                opened_with.insert(index);
            }
            Err(failure) => failures.push((result.item, failure)),
        }
    }
    // Templates are rendered even when an item failed, so every bad template is reported in
    // the same pass (upstream collects both kinds of errors together).
    render_template_data(&sealed.spec.template.data, &mut data, &mut failures);
    if !failures.is_empty() {
        return Err(UnsealError {
            object,
            kind: UnsealErrorKind::Items(failures),
        });
    }
    let template = &sealed.spec.template;
    let mut metadata = template.metadata.clone();
    metadata.name = sealed.metadata.name.clone();
    metadata.namespace = sealed.metadata.namespace.clone();
    let secret = Secret {
        kind: "Secret".into(),
        api_version: SECRET_API_VERSION.into(),
        metadata,
        immutable: template.immutable,
        data,
        string_data: BTreeMap::new(),
        type_: template.type_.clone(),
    };
    Ok(Unsealed {
        secret,
        opened_with,
    })
}

/// Spec `sealed-secrets.md` §2.3 step 3: each `template.data[k]` is parsed as Go
/// `text/template` with Sprig's functions (minus `env`, `expandenv`, `getHostByName`) and
/// executed with the decrypted items as a `map[string]string`; the output becomes `data[k]`,
/// replacing a decrypted item of that name. The context is built from the decrypted items
/// only, before any template output is stored, as upstream does. A `null` template is the
/// empty template.
fn render_template_data(
    templates: &BTreeMap<String, Option<String>>,
    data: &mut BTreeMap<String, SecretBytes>,
    failures: &mut Vec<(String, ItemFailure)>,
) {
    if templates.is_empty() {
        return;
    }
    let items: BTreeMap<String, &[u8]> = data
        .iter()
        .map(|(k, v)| (k.clone(), v.as_slice()))
        .collect();
    let context = Value::from_strings(&items);
    for (key, text) in templates {
        let rendered = Template::parse_sealed_secrets(key, text.as_deref().unwrap_or_default())
            .and_then(|t| t.execute(&context));
        match rendered {
            Ok(bytes) => {
                data.insert(key.clone(), SecretBytes::new(bytes));
            }
            Err(e) => failures.push((
                key.clone(),
                ItemFailure {
                    error: Error::Template(e),
                    opens_under: None,
                },
            )),
        }
    }
}

enum V1Error {
    Unsupported(&'static str),
    Item(ItemFailure),
}

/// Spec `sealed-secrets.md` §1.6: `spec.data` is one ciphertext (same label as the items) of
/// a whole JSON `v1.Secret`. Its labels, annotations, type and data are kept; name and
/// namespace are forced from the SealedSecret; the template is ignored (except the
/// owner-reference annotation, which callers read from it as upstream does).
fn open_v1(sealed: &SealedSecret, b64: &str, keys: &[PrivateKey]) -> Result<Unsealed, V1Error> {
    if !sealed.spec.encrypted_data.is_empty() {
        return Err(V1Error::Unsupported(
            "cannot use the field 'encryptedData' and the deprecated field 'data' at the same time",
        ));
    }
    let meta = &sealed.metadata;
    let scope = Scope::from_annotations(&meta.annotations);
    let label = scope.label(&meta.namespace, &meta.name);
    let item = |error| {
        V1Error::Item(ItemFailure {
            error,
            opens_under: None,
        })
    };
    let ct = decode_base64(b64).map_err(item)?;
    let (plaintext, index) = hybrid::open(keys, &ct, &label).map_err(item)?;
    let plaintext = SecretBytes(plaintext);
    // serde_json's message may quote the plaintext: say only what was expected.
    let mut secret: Secret = serde_json::from_slice(plaintext.as_slice()).map_err(|_| {
        V1Error::Unsupported(
            "the deprecated 'data' field decrypts, but not to a JSON Secret: re-seal the Secret into 'encryptedData'",
        )
    })?;
    // The API server merges stringData into data; a Secret read back holds only data.
    for (k, v) in std::mem::take(&mut secret.string_data) {
        secret
            .data
            .insert(k, SecretBytes::new(v.as_str().as_bytes().to_vec()));
    }
    secret.kind = "Secret".into();
    secret.api_version = SECRET_API_VERSION.into();
    secret.metadata.name = meta.name.clone();
    secret.metadata.namespace = meta.namespace.clone();
    Ok(Unsealed {
        secret,
        opened_with: [index].into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealed::manifest::SecretText;
    use std::sync::LazyLock;

    static KEY: LazyLock<PrivateKey> = LazyLock::new(|| PrivateKey::generate(2048).unwrap());

    fn secret() -> Secret {
        Secret {
            kind: "Secret".into(),
            api_version: "v1".into(),
            metadata: ObjectMeta {
                name: "s".into(),
                namespace: "ns".into(),
                labels: [("app".to_string(), "web".to_string())].into(),
                annotations: [
                    (
                        LAST_APPLIED[0].to_string(),
                        "{\"data\":\"plaintext\"}".to_string(),
                    ),
                    ("keep".to_string(), "me".to_string()),
                ]
                .into(),
                owner_references: vec![OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "Deployment".into(),
                    name: "d".into(),
                    uid: "u".into(),
                    controller: None,
                }],
                ..Default::default()
            },
            immutable: Some(true),
            data: [("a".to_string(), SecretBytes::new(b"from-data".to_vec()))].into(),
            string_data: [("b".to_string(), SecretText::new("from-string".into()))].into(),
            type_: "kubernetes.io/basic-auth".into(),
        }
    }

    #[test]
    fn seal_then_unseal_keeps_template_semantics() {
        let sealed = seal_secret(&secret(), KEY.public_key()).unwrap();
        let t = &sealed.spec.template;
        assert_eq!(t.immutable, Some(true));
        assert_eq!(t.type_, "kubernetes.io/basic-auth");
        assert!(t.metadata.owner_references.is_empty());
        assert!(!t.metadata.annotations.contains_key(LAST_APPLIED[0]));
        assert_eq!(t.metadata.annotations["keep"], "me");
        assert!(sealed.metadata.labels.is_empty() && sealed.metadata.annotations.is_empty());

        let opened = unseal(&sealed, std::slice::from_ref(&*KEY)).unwrap().secret;
        assert_eq!(opened.data["a"].as_slice(), b"from-data");
        assert_eq!(opened.data["b"].as_slice(), b"from-string");
        assert!(opened.string_data.is_empty());
        assert_eq!(opened.immutable, Some(true));
        assert_eq!(opened.metadata.labels["app"], "web");
    }

    #[test]
    fn unseal_forces_name_and_namespace_from_the_sealed_secret() {
        let mut s = secret();
        Scope::NamespaceWide.apply_to(&mut s.metadata.annotations);
        let mut sealed = seal_secret(&s, KEY.public_key()).unwrap();
        sealed.metadata.name = "renamed".into();
        sealed.spec.template.metadata.name = "template-name".into();
        let opened = unseal(&sealed, std::slice::from_ref(&*KEY)).unwrap().secret;
        assert_eq!(opened.metadata.name, "renamed");
        assert_eq!(opened.metadata.namespace, "ns");
    }

    #[test]
    fn every_scope_needs_a_name_and_non_cluster_wide_a_namespace() {
        let mut s = secret();
        s.metadata.name.clear();
        Scope::ClusterWide.apply_to(&mut s.metadata.annotations);
        let err = seal_secret(&s, KEY.public_key()).unwrap_err().to_string();
        assert!(err.contains("missing metadata.name"), "{err}");
        let mut s = secret();
        s.metadata.namespace.clear();
        let err = seal_secret(&s, KEY.public_key()).unwrap_err().to_string();
        assert!(err.contains("secret must declare a namespace"), "{err}");
        Scope::ClusterWide.apply_to(&mut s.metadata.annotations);
        assert!(seal_secret(&s, KEY.public_key()).is_ok());
    }

    #[test]
    fn template_data_renders_over_decrypted_items_and_wins() {
        let mut sealed = seal_secret(&secret(), KEY.public_key()).unwrap();
        let t = &mut sealed.spec.template.data;
        t.insert(
            "url".into(),
            Some("{{ .a }}@{{ .b | upper }}/{{ .nope }}".into()),
        );
        t.insert("a".into(), Some("{{ .a | b64enc }}".into()));
        t.insert("empty".into(), None);
        let opened = unseal(&sealed, std::slice::from_ref(&*KEY)).unwrap().secret;
        assert_eq!(
            opened.data["url"].as_slice(),
            b"from-data@FROM-STRING/<no value>"
        );
        // The context holds the decrypted items, not other templates' output.
        assert_eq!(opened.data["a"].as_slice(), b"ZnJvbS1kYXRh");
        assert_eq!(opened.data["empty"].as_slice(), b"");
        assert_eq!(opened.data["b"].as_slice(), b"from-string");
    }

    #[test]
    fn bad_templates_name_their_key_never_the_plaintext_and_give_no_secret() {
        let mut sealed = seal_secret(&secret(), KEY.public_key()).unwrap();
        let t = &mut sealed.spec.template.data;
        t.insert("conn".into(), Some("{{ .a | nosuchfunc }}".into()));
        t.insert("host".into(), Some("{{ env \"HOME\" }}".into()));
        t.insert("cfg".into(), Some("{{ .a | toYaml }}".into()));
        t.insert("bad".into(), Some("{{ .a ".into()));
        t.insert("ok".into(), Some("{{ .a }}".into()));
        let err = unseal(&sealed, std::slice::from_ref(&*KEY))
            .unwrap_err()
            .to_string();
        for key in ["conn", "host", "cfg", "bad"] {
            assert!(err.contains(&format!("template: {key}:1")), "{err}");
        }
        assert!(
            err.contains("nosuchfunc") && err.contains("\"env\""),
            "{err}"
        );
        assert!(!err.contains("from-data") && !err.contains("ok:"), "{err}");
    }

    fn v1(secret_json: &str, label_for: &Secret) -> SealedSecret {
        let meta = &label_for.metadata;
        let label = Scope::from_annotations(&meta.annotations).label(&meta.namespace, &meta.name);
        let ct = hybrid::seal(KEY.public_key(), secret_json.as_bytes(), &label).unwrap();
        SealedSecret::new(
            ObjectMeta {
                name: meta.name.clone(),
                namespace: meta.namespace.clone(),
                ..Default::default()
            },
            SealedSecretSpec {
                data: Some(encode_base64(&ct)),
                template: SecretTemplate {
                    type_: "ignored".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
    }

    #[test]
    fn deprecated_v1_data_opens_the_whole_secret_unless_refused() {
        let json = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"other","namespace":"elsewhere","labels":{"app":"old"}},"type":"kubernetes.io/basic-auth","data":{"username":"Ym9i"},"stringData":{"password":"pw"}}"#;
        let sealed = v1(json, &secret());
        let opened = unseal(&sealed, std::slice::from_ref(&*KEY)).unwrap();
        let s = opened.secret;
        assert_eq!(
            (s.metadata.name.as_str(), s.metadata.namespace.as_str()),
            ("s", "ns")
        );
        assert_eq!(s.metadata.labels["app"], "old");
        assert_eq!(
            s.type_, "kubernetes.io/basic-auth",
            "the template is ignored"
        );
        assert_eq!(s.data["username"].as_slice(), b"bob");
        assert_eq!(s.data["password"].as_slice(), b"pw");
        assert!(s.string_data.is_empty());
        assert_eq!(opened.opened_with, [0].into());

        let refuse = UnsealOptions {
            accept_deprecated_v1_data: false,
        };
        let err = unseal_with(&sealed, std::slice::from_ref(&*KEY), refuse)
            .unwrap_err()
            .to_string();
        assert!(err.ends_with(DEPRECATED_V1_REFUSED), "{err}");

        let mut both = sealed.clone();
        both.spec.encrypted_data.insert("x".into(), "AgA=".into());
        let err = unseal(&both, std::slice::from_ref(&*KEY))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'encryptedData' and the deprecated field 'data'"),
            "{err}"
        );

        let mut renamed = sealed.clone();
        renamed.metadata.name = "moved".into();
        let err = unseal(&renamed, std::slice::from_ref(&*KEY))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no key could decrypt secret (data)"), "{err}");

        let not_json = v1("hunter2 is not json", &secret());
        let err = unseal(&not_json, std::slice::from_ref(&*KEY))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not to a JSON Secret") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn items_report_the_key_that_opened_them_trying_the_last_one_first() {
        let other = PrivateKey::generate(2048).unwrap();
        let sealed = seal_secret(&secret(), KEY.public_key()).unwrap();
        let keys = [other, KEY.clone()];
        let results = open_items(&sealed, &keys);
        assert_eq!(results.len(), 2);
        for r in &results {
            assert_eq!(r.outcome.as_ref().unwrap().1, 1, "{}", r.item);
        }
        let opened = unseal(&sealed, &keys).unwrap();
        assert_eq!(opened.opened_with, [1].into());
    }
}
