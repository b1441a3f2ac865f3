//! The real-tool vectors in `testdata/sops/` (copied from `../shared/testvectors/sops/`): each
//! must decrypt to exactly the `sops decrypt` output, and tampering must be detected.

use std::path::PathBuf;

use serde::Deserialize;

use super::{
    EncryptSettings, Error, Format, Selector, cipher::DataKey, decrypt_file, emit_plain,
    encrypt_file, keys, load, tree,
};

#[derive(Deserialize)]
struct Vector {
    file: String,
    format: String,
    #[serde(default)]
    age_identities: Vec<String>,
    /// An OpenSSH key for files wrapped to an `ssh-ed25519` recipient.
    ssh_identity: Option<String>,
    #[serde(default)]
    expected_exit: i32,
    expected_plaintext: Option<String>,
    data_key_hex: Option<String>,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/sops")
}

fn vectors(format: &str) -> Vec<Vector> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    let all: Vec<Vector> = serde_json::from_str(&text).unwrap();
    all.into_iter().filter(|v| v.format == format).collect()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(dir().join(rel)).unwrap()
}

fn data_key(hex: &str) -> DataKey {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    DataKey::from_bytes(&bytes).unwrap()
}

fn identities(v: &Vector) -> Vec<keys::Identity> {
    let ssh = v.ssh_identity.iter().map(|f| {
        keys::Identity::SshEd25519(super::ssh::Ed25519Identity::from_openssh(&read(f)).unwrap())
    });
    v.age_identities
        .iter()
        .flat_map(|f| keys::parse_identities(&read(f)).unwrap())
        .chain(ssh)
        .collect()
}

fn check_vectors(format_name: &str, format: Format, count: usize) {
    let vs = vectors(format_name);
    assert_eq!(vs.len(), count);
    for v in vs {
        assert_eq!(v.expected_exit, 0, "{}", v.file);
        let text = read(&v.file);
        let want = std::fs::read(dir().join(v.expected_plaintext.as_ref().unwrap())).unwrap();
        // Values and MAC with the data key from the manifest (PGP-only files too).
        let (mut branches, meta) = load(format, &text).unwrap();
        tree::decrypt(
            &mut branches,
            &meta,
            &data_key(v.data_key_hex.as_ref().unwrap()),
            false,
            None,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", v.file));
        assert_eq!(emit_plain(format, &branches).unwrap(), want, "{}", v.file);
        // The whole path with age identities, or the age-only error.
        let ids = identities(&v);
        match decrypt_file(format, &text, &ids, false) {
            Ok(plain) => assert_eq!(plain, want, "{}", v.file),
            Err(e) => {
                assert!(ids.is_empty(), "{}: {e}", v.file);
                assert!(matches!(e, Error::NotAge { .. }), "{}: {e}", v.file);
                assert!(
                    e.to_string().starts_with("PGP is not supported, age only"),
                    "{e}"
                );
            }
        }
    }
}

#[test]
fn every_dotenv_vector_decrypts_to_the_sops_output() {
    check_vectors("dotenv", Format::Dotenv, 5);
}

#[test]
fn every_json_vector_decrypts_to_the_sops_output() {
    check_vectors("json", Format::Json, 4);
}

#[test]
fn every_ini_vector_decrypts_to_the_sops_output() {
    check_vectors("ini", Format::Ini, 5);
}

#[test]
fn every_yaml_vector_decrypts_to_the_sops_output() {
    let vs = vectors("yaml");
    assert_eq!(vs.len(), 28);
    let mut failures = Vec::new();
    let mut checked = 0;
    let mut opened_with_identities = 0;
    for v in vs.iter().filter(|v| v.expected_exit == 0) {
        let text = read(&v.file);
        // The post-quantum vector carries no data key: it opens only through its identity.
        let result = match &v.data_key_hex {
            Some(hex) => load(Format::Yaml, &text).and_then(|(mut docs, meta)| {
                tree::decrypt(&mut docs, &meta, &data_key(hex), false, None)?;
                emit_plain(Format::Yaml, &docs)
            }),
            None => decrypt_file(Format::Yaml, &text, &identities(v), false),
        };
        let want = read(v.expected_plaintext.as_ref().unwrap());
        // With the vector's own age identities too (ssh-ed25519 recipients have none here).
        let ids = identities(v);
        if !ids.is_empty() {
            match decrypt_file(Format::Yaml, &text, &ids, false) {
                Ok(plain) if plain == want.as_bytes() => opened_with_identities += 1,
                Ok(_) => failures.push(format!("{}: age path output differs", v.file)),
                Err(e) => failures.push(format!("{}: age path: {e}", v.file)),
            }
        }
        match result {
            Ok(got) if got == want.as_bytes() => checked += 1,
            Ok(got) => failures.push(format!(
                "{}: output differs\n--- got\n{}\n--- want\n{want}",
                v.file,
                String::from_utf8_lossy(&got)
            )),
            Err(e) => failures.push(format!("{}: {e}", v.file)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} ok, failures:\n{}",
        checked,
        failures.join("\n")
    );
    assert_eq!(checked, 20);
    assert_eq!(
        opened_with_identities, 15,
        "every vector with an age or SSH key opens with it"
    );
}

#[test]
fn the_no_mac_vector_fails_with_exit_51() {
    let text = read("getsops-sops/no_mac.yaml");
    let v = vectors("yaml")
        .into_iter()
        .find(|v| v.file == "getsops-sops/no_mac.yaml")
        .unwrap();
    let (mut docs, meta) = load(Format::Yaml, &text).unwrap();
    let err = tree::decrypt(
        &mut docs,
        &meta,
        &data_key(v.data_key_hex.as_ref().unwrap()),
        false,
        None,
    )
    .unwrap_err();
    // The CLI maps the variant to sops's exit status (`cli/src/exit.rs`).
    assert!(matches!(err, Error::NoMac));
}

#[test]
fn every_binary_vector_decrypts_to_the_sops_output() {
    check_vectors("binary", Format::Binary, 3);
}

/// `generated/gen.enc.env` has encrypted values, a clear `_unencrypted` value and a comment.
fn generated() -> (String, Vec<keys::Identity>) {
    let v = vectors("dotenv")
        .into_iter()
        .find(|v| v.file == "generated/gen.enc.env")
        .unwrap();
    (read(&v.file), identities(&v))
}

#[test]
fn tampering_is_detected() {
    let (text, ids) = generated();
    let expect =
        |text: &str, ignore_mac: bool| decrypt_file(Format::Dotenv, text, &ids, ignore_mac);

    // A clear value changed: only the MAC notices (exit 51), unless --ignore-mac.
    let clear = text.replace("PLAIN_unencrypted=visible", "PLAIN_unencrypted=changed");
    assert!(matches!(expect(&clear, false), Err(Error::MacMismatch)));
    let forced = String::from_utf8(expect(&clear, true).unwrap()).unwrap();
    assert!(forced.contains("PLAIN_unencrypted=changed"));

    // lastmodified changed: the MAC's AAD no longer matches.
    let line = text
        .lines()
        .find(|l| l.starts_with("sops_lastmodified="))
        .unwrap();
    let moved = text.replace(line, "sops_lastmodified=2020-01-01T00:00:00Z");
    assert!(matches!(expect(&moved, false), Err(Error::MacMismatch)));

    // The MAC itself changed.
    let mac_line = text.lines().find(|l| l.starts_with("sops_mac=")).unwrap();
    let flipped = mac_line
        .replacen("data:", "data:A", 1)
        .replacen("data:AA", "data:BA", 1);
    let bad_mac = text.replace(mac_line, &flipped);
    assert!(matches!(expect(&bad_mac, false), Err(Error::MacMismatch)));

    // Two encrypted values swapped: each fails its path AAD.
    let host = text.lines().find(|l| l.starts_with("DB_HOST=")).unwrap();
    let pass = text.lines().find(|l| l.starts_with("DB_PASS=")).unwrap();
    let swapped = text
        .replace(host, &format!("DB_HOST={}", &pass[8..]))
        .replace(pass, &format!("DB_PASS={}", &host[8..]));
    let err = expect(&swapped, true).unwrap_err();
    assert!(
        matches!(err, Error::Decrypt { ref path } if path == "DB_HOST"),
        "{err}"
    );

    // A wrong identity: NoUsableKey (exit 128 in the CLI) naming the recipients.
    let other = age::x25519::Identity::generate();
    let err = decrypt_file(Format::Dotenv, &text, &[other.into()], false).unwrap_err();
    assert!(
        err.to_string()
            .contains("age1c0uvtzfkhrslp576mf0fmx9cpsp0fm4gjspmcfhvky9daev4vdfqkahp3q"),
        "{err}"
    );
    assert!(matches!(err, Error::NoUsableKey { .. }), "{err}");
}

#[test]
fn several_yaml_documents_cannot_become_one_json_file() {
    let docs = super::yaml::parse("a: 1\n---\nb: 2\n").unwrap();
    assert!(matches!(
        emit_plain(Format::Json, &docs),
        Err(Error::OneDocumentOnly(Format::Json))
    ));
}

#[test]
fn encrypt_then_decrypt_round_trips_every_implemented_store() {
    let raw: Vec<age::x25519::Identity> =
        (0..3).map(|_| age::x25519::Identity::generate()).collect();
    let recipients: Vec<String> = raw.iter().map(|i| i.to_public().to_string()).collect();
    let r = |i: usize| recipients[i].clone();
    let ids: Vec<keys::Identity> = raw.into_iter().map(keys::Identity::from).collect();
    let now = std::time::SystemTime::now();
    let cases: [(Format, &[u8]); 4] = [
        (Format::Ini, b"; c\nk = v\n\n[s]\n; about A\nA = 1\n"),
        (Format::Dotenv, b"#note\nA=1\nB_unencrypted=clear\nC=multi\\nline\nEMPTY=\n"),
        (
            Format::Json,
            "{\n\t\"a\": 1,\n\t\"b\": [\n\t\ttrue,\n\t\t1.5,\n\t\tnull\n\t],\n\t\"c\": {\n\t\t\"d_unencrypted\": \"x\",\n\t\t\"e\": \"\\u003cé\\u003e\"\n\t}\n}\n".as_bytes(),
        ),
        (Format::Binary, b"\x00\xff binary\n"),
    ];
    let a_b_or_big_a = regex::Regex::new("^(a|b|A)$").unwrap();
    for (format, plain) in cases {
        for settings in [
            EncryptSettings {
                groups: vec![vec![r(0), r(1)]],
                ..Default::default()
            },
            EncryptSettings {
                groups: vec![vec![r(0)], vec![r(1)], vec![r(2)]],
                shamir_threshold: 2,
                ..Default::default()
            },
            EncryptSettings {
                groups: vec![vec![r(1)]],
                mac_only_encrypted: true,
                selector: Some(Selector::EncryptedRegex(a_b_or_big_a.clone())),
                ..Default::default()
            },
        ] {
            let enc = encrypt_file(format, format, plain, &settings, now).unwrap();
            let text = String::from_utf8(enc).unwrap();
            assert!(text.contains("ENC[AES256_GCM,data:"), "{text}");
            if format == Format::Dotenv {
                // Comments are encrypted too, unless the selector says otherwise.
                assert_eq!(
                    !text.contains("#note"),
                    settings.selector.is_none(),
                    "{text}"
                );
            }
            let opened = decrypt_file(format, &text, &ids[1..], false)
                .unwrap_or_else(|e| panic!("{format:?} {settings:?}: {e}\n{text}"));
            assert_eq!(opened, plain, "{format:?} {settings:?}");
            // encrypting an encrypted file is refused (sops exit 203)
            let again = encrypt_file(format, format, text.as_bytes(), &settings, now);
            if format != Format::Binary {
                assert!(matches!(again, Err(Error::AlreadyEncrypted)), "{format:?}");
            }
        }
    }
}
