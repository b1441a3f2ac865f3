//! Where keys come from and what they can be: Shamir key groups, every identity source sops
//! reads, SSH Ed25519 keys, post-quantum age keys with typage.

use super::*;

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
