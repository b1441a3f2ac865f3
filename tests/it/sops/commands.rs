//! The commands that change a file (set, unset, edit, rotate, updatekeys), filestatus and
//! exec, `.sops.yaml` creation rules and comment selectors, sops's global flags.

use super::*;

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
    assert!(
        run.stderr().contains("your edits were discarded"),
        "{}",
        run.stderr()
    );
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
