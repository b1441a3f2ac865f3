//! Sealing scopes and the RSA-OAEP label each one binds into a ciphertext
//! (spec `sealed-secrets.md` §1.2).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Annotation that makes a SealedSecret cluster-wide (value must be exactly `"true"`).
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// Annotation that makes a SealedSecret namespace-wide (value must be exactly `"true"`).
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";

/// Who may decrypt an item: the OAEP label ties the ciphertext to a name and/or namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Bound to one namespace and one name; label `"<namespace>/<name>"`.
    #[default]
    Strict,
    /// Bound to one namespace, any name; label `"<namespace>"`.
    NamespaceWide,
    /// Any namespace, any name; empty label.
    ClusterWide,
}

impl Scope {
    /// All scopes, strictest first.
    pub const ALL: [Scope; 3] = [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide];

    /// The scope an object's own annotations select. Upstream compares with the exact string
    /// `"true"`, and cluster-wide wins when both are set.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Scope {
        let is_true = |key: &str| annotations.get(key).is_some_and(|v| v == "true");
        if is_true(CLUSTER_WIDE_ANNOTATION) {
            Scope::ClusterWide
        } else if is_true(NAMESPACE_WIDE_ANNOTATION) {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }

    /// The OAEP label for an object named `name` in `namespace` under this scope.
    pub fn label(self, namespace: &str, name: &str) -> Vec<u8> {
        match self {
            Scope::Strict => format!("{namespace}/{name}").into_bytes(),
            Scope::NamespaceWide => namespace.as_bytes().to_vec(),
            Scope::ClusterWide => Vec::new(),
        }
    }

    /// Rewrites `annotations` so that they select this scope, the way kubeseal's
    /// `UpdateScopeAnnotations` does: both scope annotations are removed, then the one this
    /// scope needs (if any) is set to `"true"`.
    pub fn apply_to(self, annotations: &mut BTreeMap<String, String>) {
        annotations.remove(CLUSTER_WIDE_ANNOTATION);
        annotations.remove(NAMESPACE_WIDE_ANNOTATION);
        let key = match self {
            Scope::Strict => return,
            Scope::NamespaceWide => NAMESPACE_WIDE_ANNOTATION,
            Scope::ClusterWide => CLUSTER_WIDE_ANNOTATION,
        };
        annotations.insert(key.to_owned(), "true".to_owned());
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        })
    }
}

/// A `--scope` value that is not one of `strict`, `namespace-wide`, `cluster-wide`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}: use strict, namespace-wide or cluster-wide")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "strict" => Ok(Scope::Strict),
            "namespace-wide" => Ok(Scope::NamespaceWide),
            "cluster-wide" => Ok(Scope::ClusterWide),
            other => Err(UnknownScope(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn labels_match_upstream() {
        assert_eq!(Scope::Strict.label("ns", "n"), b"ns/n");
        assert_eq!(Scope::NamespaceWide.label("ns", "n"), b"ns");
        assert_eq!(Scope::ClusterWide.label("ns", "n"), b"");
    }

    #[test]
    fn annotations_need_exact_true_and_cluster_wide_wins() {
        assert_eq!(Scope::from_annotations(&ann(&[])), Scope::Strict);
        assert_eq!(
            Scope::from_annotations(&ann(&[(CLUSTER_WIDE_ANNOTATION, "True")])),
            Scope::Strict
        );
        assert_eq!(
            Scope::from_annotations(&ann(&[(NAMESPACE_WIDE_ANNOTATION, "true")])),
            Scope::NamespaceWide
        );
        assert_eq!(
            Scope::from_annotations(&ann(&[
                (NAMESPACE_WIDE_ANNOTATION, "true"),
                (CLUSTER_WIDE_ANNOTATION, "true")
            ])),
            Scope::ClusterWide
        );
    }

    #[test]
    fn apply_to_replaces_scope_annotations() {
        let mut a = ann(&[(NAMESPACE_WIDE_ANNOTATION, "true"), ("x", "y")]);
        Scope::ClusterWide.apply_to(&mut a);
        assert_eq!(a, ann(&[(CLUSTER_WIDE_ANNOTATION, "true"), ("x", "y")]));
        Scope::Strict.apply_to(&mut a);
        assert_eq!(a, ann(&[("x", "y")]));
    }

    #[test]
    fn parses_flag_values() {
        assert_eq!("".parse::<Scope>(), Ok(Scope::Strict));
        assert_eq!("cluster-wide".parse::<Scope>(), Ok(Scope::ClusterWide));
        assert!("global".parse::<Scope>().is_err());
    }
}
