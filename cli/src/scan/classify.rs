//! What one file holds, decided from its name and bytes alone (no file system, no git): the
//! pure half of `sealbox check`. [`classify`] is the entry point; it fails closed: a file that
//! looks like a Kubernetes manifest but cannot be read fully is a problem, not a pass.

use std::sync::LazyLock;

use regex::Regex;
use sealbox_crypto::sops::{self, Format};
use zeroize::Zeroizing;

use super::documents::yaml_documents;
use super::secrets::{SEAL, check_value, duplicate_key, is_sops_document};
use crate::cleanup;

/// What to do about a file that is a deliberate fixture.
const ALLOW: &str =
    "if it is a test fixture, allow it in .sealboxignore or with a `# sealbox:allow` line";

/// The verdict on one file.
#[derive(Debug, Default)]
pub struct Outcome {
    /// One message per problem, each naming the file; empty when the file passes.
    pub problems: Vec<String>,
    /// The file is SOPS-encrypted (any store).
    pub encrypted: bool,
    /// The file carries a `# sealbox:allow` line: nothing else was looked at.
    pub allowed: bool,
}

/// Whether a path is, or lies in, a temp file or private directory sealbox left behind (the
/// names `cleanup` gives them).
pub fn is_leftover(name: &str) -> bool {
    name.split('/').any(cleanup::is_artifact_name)
}

/// Whether the text carries an allow marker: a comment line `# sealbox:allow` (a reason may
/// follow).
pub fn has_allow_marker(text: &str) -> bool {
    text.lines().any(|line| {
        line.trim_start()
            .strip_prefix('#')
            .is_some_and(|rest| rest.trim_start().starts_with("sealbox:allow"))
    })
}

/// The verdict on a file named `name` (used in messages) holding `bytes`.
pub fn classify(name: &str, bytes: &[u8]) -> Outcome {
    let mut out = Outcome::default();
    if is_leftover(name) {
        out.problems.push(format!(
            "{name}: a temporary file left by an interrupted sealbox run, which may hold plaintext: delete it"
        ));
        return out;
    }
    let text = match decode(bytes) {
        Decoded::Text(text) => text,
        Decoded::Binary => return out,
        Decoded::Unreadable => {
            out.problems.push(format!(
                "{name}: text in an encoding sealbox cannot read (UTF-16/UTF-32 without a byte-order mark?) that looks like a Kubernetes manifest or a key, so plaintext cannot be ruled out: save it as UTF-8 and encrypt it, or {ALLOW}"
            ));
            return out;
        }
    };
    if has_allow_marker(&text) {
        out.allowed = true;
        return out;
    }
    out.problems.extend(private_keys(name, &text));
    out.encrypted = is_sops_encrypted(&text);
    if let Some(syntax) = manifest_syntax(name, &text) {
        let manifest = looks_like_manifest(&text);
        let docs = match syntax {
            Syntax::Json => match sops::json::parse_value(&text) {
                Ok(value) => vec![Ok(value)],
                // JSON with comments or a flow-style YAML file: YAML reads both.
                Err(_) => yaml_documents(&text),
            },
            Syntax::Yaml => yaml_documents(&text),
        };
        out.encrypted |= docs.iter().flatten().any(is_sops_document);
        for (index, doc) in docs.iter().enumerate() {
            let label = format!("{name}: document {}", index + 1);
            match doc {
                Err(()) if manifest => out.problems.push(format!(
                    "{label} does not parse as YAML or JSON (a duplicate key, a tab in the indentation, a stray character?) and the file looks like a Kubernetes manifest, so a plain Secret cannot be ruled out: fix it, then {SEAL}; if it holds no secret (a template, a fixture), allow it in .sealboxignore or with a `# sealbox:allow` line"
                )),
                Err(()) => {}
                Ok(value) => {
                    if manifest && let Some(key) = duplicate_key(value) {
                        out.problems.push(format!(
                            "{label} has the key {key:?} twice, so a plain Secret cannot be ruled out: remove the duplicate"
                        ));
                    }
                    check_value(&label, value, out.encrypted, 0, &mut out.problems);
                }
            }
        }
    }
    out
}

enum Decoded {
    /// Wiped when dropped: it may be plaintext.
    Text(Zeroizing<String>),
    /// NUL bytes and nothing that reads as a manifest or a key.
    Binary,
    /// NUL bytes around what reads as a manifest or a key.
    Unreadable,
}

fn decode(bytes: &[u8]) -> Decoded {
    let utf16 = |bytes: &[u8], le: bool| {
        let units = bytes.chunks_exact(2).map(|c| {
            if le {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect::<String>()
    };
    let utf32 = |bytes: &[u8], le: bool| {
        bytes
            .chunks_exact(4)
            .map(|c| {
                let n = if le {
                    u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                } else {
                    u32::from_be_bytes([c[0], c[1], c[2], c[3]])
                };
                char::from_u32(n).unwrap_or(char::REPLACEMENT_CHARACTER)
            })
            .collect::<String>()
    };
    let text = match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        [0xFF, 0xFE, 0, 0, rest @ ..] => utf32(rest, true),
        [0, 0, 0xFE, 0xFF, rest @ ..] => utf32(rest, false),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        _ if bytes.contains(&0) => {
            // UTF-16/32 without a byte-order mark reads as ASCII once the NULs are gone.
            let stripped: Vec<u8> = bytes.iter().copied().filter(|&b| b != 0).collect();
            let stripped = String::from_utf8_lossy(&stripped);
            return if looks_like_manifest(&stripped) || has_key_line(&stripped) {
                Decoded::Unreadable
            } else {
                Decoded::Binary
            };
        }
        _ => String::from_utf8_lossy(bytes).into_owned(),
    };
    Decoded::Text(Zeroizing::new(text))
}

static PEM_KEY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----").expect("valid regex")
});
static AGE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    // bech32 is read in either case.
    Regex::new(r"(?i)AGE-SECRET-KEY-(?:PQ-)?1[0-9A-Z]{20,}").expect("valid regex")
});
static MANIFEST_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?m)^[ \t\-{\[,]*"?(?:apiVersion|kind)"?[ \t]*:"#).expect("valid regex")
});

fn has_key_line(text: &str) -> bool {
    PEM_KEY.is_match(text) || AGE_KEY.is_match(text)
}

/// PEM private keys and age identities anywhere in the text, by line; never the key itself.
fn private_keys(name: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if let Some(m) = PEM_KEY.find(line) {
            found.push(format!(
                "{name}: line {}: a PEM private key ({}): never commit private keys: encrypt the file with `sealbox encrypt`, or {ALLOW} (test keys only)",
                index + 1,
                m.as_str()
            ));
        }
        if let Some(m) = AGE_KEY.find(line) {
            let kind = if m
                .as_str()
                .to_ascii_uppercase()
                .starts_with("AGE-SECRET-KEY-PQ-")
            {
                "AGE-SECRET-KEY-PQ-1…"
            } else {
                "AGE-SECRET-KEY-1…"
            };
            found.push(format!(
                "{name}: line {}: an age identity ({kind}): never commit private keys: encrypt the file with `sealbox encrypt`, or {ALLOW} (test keys only)",
                index + 1
            ));
        }
    }
    found
}

/// Whether the text has `kind:`/`apiVersion:` keys (YAML or JSON).
fn looks_like_manifest(text: &str) -> bool {
    MANIFEST_LINE.is_match(text)
}

#[derive(Debug, PartialEq)]
enum Syntax {
    Yaml,
    Json,
}

/// Extensions of files that are never manifests (prose, source code, other config formats):
/// only keys are looked for in them.
const NOT_MANIFESTS: &[&str] = &[
    "md", "markdown", "mdx", "rst", "adoc", "asciidoc", "html", "htm", "go", "rs", "py", "rb",
    "js", "mjs", "cjs", "ts", "tsx", "jsx", "java", "kt", "scala", "c", "h", "cc", "cpp", "hpp",
    "cs", "swift", "php", "pl", "sh", "bash", "zsh", "fish", "ps1", "toml", "ini", "env", "tf",
    "hcl", "lock", "sum", "mod", "css", "scss", "xml", "svg", "proto", "sql", "nix", "lua",
    "patch", "diff", "crt", "pem", "pub", "csv",
];

/// How to read a file as a manifest, by extension (any case) or, for other names, by content.
fn manifest_syntax(name: &str, text: &str) -> Option<Syntax> {
    let base = name.rsplit('/').next().unwrap_or(name);
    let ext = base
        .rsplit_once('.')
        .filter(|(stem, _)| !stem.is_empty())
        .map(|(_, ext)| ext.to_ascii_lowercase());
    match ext.as_deref() {
        Some("yaml" | "yml") => return Some(Syntax::Yaml),
        Some("json") => return Some(Syntax::Json),
        Some(ext) if NOT_MANIFESTS.contains(&ext) => return None,
        _ => {}
    }
    let start = text.trim_start();
    if start.starts_with('{') || start.starts_with('[') {
        Some(Syntax::Json)
    } else if looks_like_manifest(text) {
        Some(Syntax::Yaml)
    } else {
        None
    }
}

/// Whether any store reads the text as a SOPS file with a MAC.
fn is_sops_encrypted(text: &str) -> bool {
    [Format::Yaml, Format::Json, Format::Dotenv, Format::Ini]
        .into_iter()
        .any(|format| sops::load(format, text).is_ok_and(|(_, meta)| !meta.mac.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: prod\nstringData:\n  password: hunter2\n";

    fn problems(name: &str, text: &str) -> Vec<String> {
        let out = classify(name, text.as_bytes());
        for p in &out.problems {
            assert!(!p.contains("hunter2"), "a value in a message: {p}");
        }
        out.problems
    }

    fn one(name: &str, text: &str, want: &str) {
        let found = problems(name, text);
        assert!(
            found.iter().any(|p| p.contains(want)),
            "{name}: want {want:?} in {found:#?}"
        );
    }

    fn passes(name: &str, text: &str) {
        assert_eq!(problems(name, text), Vec::<String>::new(), "{name}");
    }

    #[test]
    fn plain_secrets_fail_in_every_shape() {
        one(
            "a.yaml",
            SECRET,
            "a.yaml: document 1: Kubernetes Secret prod/db is not encrypted",
        );
        one(
            "a.YAML",
            SECRET,
            "document 1: Kubernetes Secret prod/db is not encrypted",
        );
        one("noext", SECRET, "noext: document 1: Kubernetes Secret");
        one("x.key", SECRET, "x.key: document 1: Kubernetes Secret");
        one(
            "s.yaml.tpl",
            SECRET,
            "s.yaml.tpl: document 1: Kubernetes Secret",
        );
        one(
            "l.yaml",
            &format!(
                "apiVersion: v1\nkind: List\nitems:\n- {}",
                SECRET.replace('\n', "\n  ")
            ),
            "document 1, items[0]: Kubernetes Secret prod/db",
        );
        one(
            "arr.json",
            r#"[{"kind":"ConfigMap"},{"kind":"Secret","metadata":{"name":"j"},"data":{"a":"Yg=="}}]"#,
            "arr.json: document 1, [1]: Kubernetes Secret j",
        );
        one(
            "seq.yaml",
            &format!("- {}", SECRET.replace('\n', "\n  ")),
            "document 1, [0]",
        );
        one(
            "merge.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: m}\n<<: {stringData: {p: hunter2}}\n",
            "Kubernetes Secret m is not encrypted",
        );
        one(
            "lower.yaml",
            &SECRET.replace("Secret", "secret"),
            "is not encrypted",
        );
        one(
            "ends.yaml",
            &format!("a: 1\n...\n{SECRET}"),
            "ends.yaml: document 2: Kubernetes Secret",
        );
        one(
            "two.yaml",
            &format!("a: 1\n---\n---\n{SECRET}"),
            "two.yaml: document 3: Kubernetes Secret",
        );
    }

    #[test]
    fn manifests_that_do_not_parse_fail() {
        let dup = SECRET.replace("stringData:", "stringData: {}\nstringData:");
        one("dup.yaml", &dup, "document 1 does not parse");
        one(
            "tab.yaml",
            &SECRET.replace("  password", "\tpassword"),
            "does not parse",
        );
        one("stray.yaml", &format!("{SECRET}[\n"), "does not parse");
        one(
            "dup.json",
            r#"{"kind":"Secret","data":{},"data":{"a":"Yg=="}}"#,
            "has the key \"data\" twice",
        );
        // not a manifest: a template or a config that happens not to parse
        passes("values.yaml", "replicas: {{ .Values.n }}\n: not yaml [\n");
        passes("tsconfig.json", "{ // comment\n \"a\": [1,\n}");
        passes("config", "[section]\nkey = value\n");
    }

    #[test]
    fn private_keys_fail_in_any_text_file() {
        // Built here, so this file holds no key-shaped line itself.
        for kind in ["", "RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", "PGP "] {
            let block = if kind == "PGP " { " BLOCK" } else { "" };
            let header = format!("-----BEGIN {kind}PRIVATE KEY{block}-----");
            one(
                "k.txt",
                &format!("x\n{header}\nMIIB\n"),
                &format!("k.txt: line 2: a PEM private key ({header})"),
            );
            one("README.md", &format!("{header}\n"), "a PEM private key");
        }
        let age = format!("AGE-SECRET-KEY-1{}", "Q".repeat(58));
        one(
            "keys",
            &format!("# created\n{age}\n"),
            "line 2: an age identity",
        );
        one(
            "lower",
            &age.to_ascii_lowercase(),
            "line 1: an age identity (AGE-SECRET-KEY-1…)",
        );
        let pq = format!("AGE-SECRET-KEY-PQ-1{}", "Q".repeat(80));
        one("k.env", &format!("K={pq}\n"), "AGE-SECRET-KEY-PQ-1…");
        let found = problems("keys", &format!("{age}\n"));
        assert!(!found[0].contains(&age[16..]), "{found:?}");
        // docs that name the formats
        passes(
            "doc.md",
            "identities look like `AGE-SECRET-KEY-1…`; certificates are -----BEGIN CERTIFICATE-----\n",
        );
    }

    #[test]
    fn other_files_pass() {
        passes(
            "cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n",
        );
        passes(
            "empty.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: e\n",
        );
        passes("nulls.yaml", "kind: Secret\ndata:\n  a: \"\"\n  b:\n");
        passes(
            "enc.yaml",
            "kind: Secret\ndata:\n  a: ENC[AES256_GCM,data:AA==,iv:AA==,tag:AA==,type:str]\n",
        );
        passes("notes.txt", "just words: here\n");
        passes("bin", "\0\x01\x02kind: Secret");
        passes("empty", "");
    }

    #[test]
    fn encodings() {
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(SECRET.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert!(classify("w.yaml", &utf16).problems[0].contains("is not encrypted"));
        let no_bom: Vec<u8> = SECRET.encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(
            classify("w.yaml", &no_bom).problems[0].contains("an encoding sealbox cannot read")
        );
    }

    #[test]
    fn leftovers_and_the_marker() {
        one(
            "dir/.sealbox-Ab12Cd",
            "x",
            "a temporary file left by an interrupted sealbox run",
        );
        one("./.sealbox-x/f", "", "temporary file");
        assert!(!is_leftover(".sealboxignore"));
        let out = classify(
            "fixture.yaml",
            format!("# sealbox:allow test fixture\n{SECRET}").as_bytes(),
        );
        assert!(out.allowed && out.problems.is_empty());
        assert!(!has_allow_marker("a: 1 # sealbox:allow\n"));
        assert!(has_allow_marker("  #sealbox:allow\n"));
    }
}
