//! Plain Secrets, private keys and the rest of what `sealbox check` fails on, as findings:
//! the verdict itself is [`crate::scan::problems`], so the two commands never disagree.

use std::path::Path;

use anyhow::Result;

use super::finding::{Category, Finding};
use crate::scan;

/// The check's problems with one file, each as a [`Category::Plaintext`] finding.
pub fn findings(
    name: &str,
    path: &Path,
    bytes: &[u8],
    config: Option<&Path>,
) -> Result<Vec<Finding>> {
    Ok(scan::problems(name, path, bytes, config)?
        .into_iter()
        .map(|problem| Finding::new(Category::Plaintext, without_name(name, &problem)))
        .collect())
}

/// The check's messages start with the file's name, which the report already prints.
fn without_name(name: &str, problem: &str) -> String {
    problem
        .strip_prefix(name)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(problem)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_secret_is_one_finding_without_its_value() {
        let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n";
        let found = findings("a/s.yaml", Path::new("a/s.yaml"), secret.as_bytes(), None).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].category, Category::Plaintext);
        assert!(
            found[0]
                .message
                .starts_with("document 1: Kubernetes Secret db is not encrypted"),
            "{}",
            found[0].message
        );
        assert!(!found[0].message.contains("hunter2"));
        let cm = "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n";
        assert!(
            findings("c.yaml", Path::new("c.yaml"), cm.as_bytes(), None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn the_file_name_is_not_repeated() {
        assert_eq!(without_name("a.yaml", "a.yaml: line 2: x"), "line 2: x");
        assert_eq!(without_name("a.yaml", "other"), "other");
    }
}
