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
/// together. Each result names its key by its index in `keys`.
pub fn open_items(sealed: &SealedSecret, keys: &[PrivateKey]) -> Vec<ItemResult> {
    let meta = &sealed.metadata;
    let scope = Scope::from_annotations(&meta.annotations);
    let label = scope.label(&meta.namespace, &meta.name);
    let mut order = keys.to_vec();
    let mut index_of: Vec<usize> = (0..keys.len()).collect();
    let mut results = Vec::with_capacity(sealed.spec.encrypted_data.len());
    for (item, b64) in &sealed.spec.encrypted_data {
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
            item: item.clone(),
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

/// Unseals a SealedSecret into the Secret the controller would create, all-or-nothing:
/// template metadata with name and namespace forced from the SealedSecret, template type and
/// immutability, and every item decrypted. No owner reference is set; callers that mimic the
/// controller add it. `keys` are tried in order for each item.
pub fn unseal(sealed: &SealedSecret, keys: &[PrivateKey]) -> Result<Unsealed, UnsealError> {
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
    if sealed.spec.data.is_some() {
        return Err(unsupported(
            "using deprecated 'data' field, which sealbox does not open: re-seal it into 'encryptedData' with kubeseal or sealbox seal",
        ));
    }
    if !sealed.spec.template.data.is_empty() {
        return Err(unsupported(
            "spec.template.data holds Go templates, which sealbox does not render yet (an existing Secret is left as it is)",
        ));
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
    fn deprecated_v1_data_and_template_data_are_refused_not_ignored() {
        let mut sealed = seal_secret(&secret(), KEY.public_key()).unwrap();
        sealed
            .spec
            .template
            .data
            .insert("url".into(), Some("{{ .a }}".into()));
        let err = unseal(&sealed, std::slice::from_ref(&*KEY))
            .unwrap_err()
            .to_string();
        assert!(err.contains("spec.template.data"), "{err}");
        sealed.spec.template.data.clear();
        sealed.spec.data = Some("AgA=".into());
        let err = unseal(&sealed, std::slice::from_ref(&*KEY))
            .unwrap_err()
            .to_string();
        assert!(err.contains("using deprecated 'data' field"), "{err}");
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
