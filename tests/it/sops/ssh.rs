//! SSH keys as age recipients and identities (age's `ssh-ed25519` and `ssh-rsa` stanzas), both
//! ways with the real sops and with Go age: keys made by `ssh-keygen`.

use super::*;

/// An unencrypted OpenSSH key of `kind` in `name` (and `name.pub`); its public key line.
fn ssh_keygen(env: &Env, kind: &str, name: &str) -> String {
    let mut args = vec!["-q", "-t", kind, "-N", "", "-C", "test@sealbox", "-f", name];
    if kind == "rsa" {
        args.extend(["-b", "2048"]);
    }
    let run = env.command("ssh-keygen", &args).run();
    assert!(run.output.status.success(), "ssh-keygen: {}", run.stderr());
    env.read(&format!("{name}.pub")).trim().to_owned()
}

fn with_ssh(env: &Env, mut cmd: sealbox_tests::Cmd, key: &str) -> sealbox_tests::Cmd {
    cmd.0.env("SOPS_AGE_SSH_PRIVATE_KEY_FILE", env.path(key));
    cmd
}

/// The recipients of a YAML file's `sops.age` entries.
fn recipients(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            l.trim_start()
                .trim_start_matches("- ")
                .strip_prefix("recipient: ")
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn ssh_recipients_round_trip_with_sops_and_age() {
    let env = Env::new();
    env.write("p.yaml", YAML);
    env.write("p.json", JSON);
    let age = env.age_keygen("age.txt");
    for (kind, key) in [("ed25519", "id_ed25519"), ("rsa", "id_rsa")] {
        let public = ssh_keygen(&env, kind, key);
        for name in ["p.yaml", "p.json"] {
            // sops → sealbox
            let theirs = env.sops(&["encrypt", "--age", &public, name]).run();
            assert!(theirs.output.status.success(), "{}", theirs.stderr());
            let sops_file = format!("sops-{kind}-{name}");
            env.write(&sops_file, &theirs.output.stdout);
            let want = with_ssh(&env, env.sops(&["decrypt", &sops_file]), key)
                .run()
                .ok();
            let got = with_ssh(&env, env.sealbox(&["decrypt", &sops_file]), key)
                .run()
                .ok();
            assert_eq!(got, want, "{kind} {name}: sealbox decrypts sops's file");
            // sealbox → sops, for the SSH key and an age key side by side
            let ours = env
                .sealbox(&["sops", "encrypt", "--age", &format!("{public},{age}"), name])
                .run()
                .ok();
            let our_file = format!("ours-{kind}-{name}");
            env.write(&our_file, &ours);
            let by_sops = with_ssh(&env, env.sops(&["decrypt", &our_file]), key)
                .run()
                .ok();
            assert_eq!(by_sops, want, "{kind} {name}: sops decrypts sealbox's file");
        }
        // The recipient is written as sops writes it (the whole key line).
        let theirs = env.read(&format!("sops-{kind}-p.yaml"));
        let ours = env.read(&format!("ours-{kind}-p.yaml"));
        assert_eq!(recipients(&theirs)[0], public);
        assert_eq!(recipients(&ours)[0], public);
        // Go age opens the stanza sealbox wrapped with the same SSH key.
        let ours_json: serde_json::Value =
            serde_json::from_str(&env.read(&format!("ours-{kind}-p.json"))).unwrap();
        let armored = age_entry(&ours_json, &public)["enc"].as_str().unwrap();
        let run = env.command("age", &["-d", "-i", key]).stdin(armored);
        assert!(run.output.status.success(), "age -d: {}", run.stderr());
        assert_eq!(run.output.stdout.len(), 32);
        // ~/.ssh/id_rsa and ~/.ssh/id_ed25519 are read when no key file is named.
        std::fs::create_dir_all(env.path(".ssh")).unwrap();
        std::fs::copy(env.path(key), env.path(&format!(".ssh/{key}"))).unwrap();
        let want = with_ssh(
            &env,
            env.sops(&["decrypt", &format!("sops-{kind}-p.yaml")]),
            key,
        )
        .run()
        .ok();
        let got = env
            .sealbox(&["decrypt", &format!("sops-{kind}-p.yaml")])
            .run()
            .ok();
        assert_eq!(got, want);
    }
}

#[test]
fn a_file_for_an_ssh_key_fails_with_128_for_another_key() {
    let env = Env::new();
    let public = ssh_keygen(&env, "ed25519", "mine");
    ssh_keygen(&env, "rsa", "other");
    env.write("p.env", DOTENV);
    let enc = env
        .sealbox(&["encrypt", "--age", &public, "p.env"])
        .run()
        .ok();
    env.write("enc.env", &enc);
    let run = with_ssh(&env, env.sealbox(&["decrypt", "enc.env"]), "other").run();
    run.fails();
    assert_eq!(exit_code(&run), 128);
    assert!(!run.stderr().contains("PRIVATE KEY"));
    // A creation rule may name SSH keys too (a YAML list, the key line as the item).
    env.write(
        ".sops.yaml",
        format!("creation_rules:\n  - path_regex: \\.env$\n    age:\n      - {public}\n"),
    );
    let by_rule = env.sealbox(&["encrypt", "p.env"]).run().ok();
    env.write("rule.env", &by_rule);
    let want = with_ssh(&env, env.sops(&["decrypt", "enc.env"]), "mine")
        .run()
        .ok();
    let got = with_ssh(&env, env.sops(&["decrypt", "rule.env"]), "mine")
        .run()
        .ok();
    assert_eq!(got, want);
    let bad = env
        .sealbox(&["encrypt", "--age", "ssh-ed25519 AAAAnotakey", "p.env"])
        .run();
    bad.fails();
}
