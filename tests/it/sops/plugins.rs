//! age plugins (C2SP age-plugin protocol): `age1NAME1…` recipients wrapped by
//! `age-plugin-NAME --age-plugin=recipient-v1`, `AGE-PLUGIN-NAME-1…` identities opened by
//! `--age-plugin=identity-v1`. The plugin is `plugin/age-plugin-sbtest`, a TEST ONLY toy whose
//! protocol side is real: Go age and sops drive the same binary, so what sealbox writes through
//! it they read, and the other way round.

use super::*;

/// `cmd` with the test plugin's directory first on PATH.
fn with_plugin(mut cmd: sealbox_tests::Cmd) -> sealbox_tests::Cmd {
    let dir = sealbox_tests::root().join("tests/it/sops/plugin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![dir];
    paths.extend(std::env::split_paths(&path));
    cmd.0.env("PATH", std::env::join_paths(paths).unwrap());
    cmd
}

/// A new plugin identity in `name`; its recipient.
fn plugin_keygen(env: &Env, name: &str) -> String {
    let plugin = sealbox_tests::root().join("tests/it/sops/plugin/age-plugin-sbtest");
    let out = with_plugin(env.command(&plugin, &["--generate"]))
        .run()
        .ok();
    let (identity, recipient) = out.trim().split_once('\n').unwrap();
    assert!(identity.starts_with("AGE-PLUGIN-SBTEST-1"), "{identity}");
    assert!(recipient.starts_with("age1sbtest1"), "{recipient}");
    env.write(name, format!("# test plugin identity\n{identity}\n"));
    recipient.to_owned()
}

fn with_identity(env: &Env, cmd: sealbox_tests::Cmd, file: &str) -> sealbox_tests::Cmd {
    let mut cmd = with_plugin(cmd);
    cmd.0.env("SOPS_AGE_KEY_FILE", env.path(file));
    cmd
}

#[test]
fn plugin_recipients_and_identities_work_with_sops_and_age() {
    let env = Env::new();
    let recipient = plugin_keygen(&env, "plugin.txt");
    env.write("p.yaml", YAML);
    env.write("p.json", JSON);
    for name in ["p.yaml", "p.json"] {
        let theirs = with_plugin(env.sops(&["encrypt", "--age", &recipient, name])).run();
        assert!(theirs.output.status.success(), "{}", theirs.stderr());
        let theirs_file = format!("sops-{name}");
        env.write(&theirs_file, &theirs.output.stdout);
        let ours = with_plugin(env.sealbox(&["sops", "encrypt", "--age", &recipient, name]))
            .run()
            .ok();
        let ours_file = format!("ours-{name}");
        env.write(&ours_file, &ours);
        let want = with_identity(&env, env.sops(&["decrypt", &theirs_file]), "plugin.txt")
            .run()
            .ok();
        for file in [&theirs_file, &ours_file] {
            let by_us = with_identity(&env, env.sealbox(&["decrypt", file]), "plugin.txt")
                .run()
                .ok();
            assert_eq!(by_us, want, "sealbox decrypt {file}");
            let by_sops = with_identity(&env, env.sops(&["decrypt", file]), "plugin.txt")
                .run()
                .ok();
            assert_eq!(by_sops, want, "sops decrypt {file}");
        }
    }
    // Go age opens the stanza sealbox had the plugin wrap, with the same plugin.
    let ours: serde_json::Value = serde_json::from_str(&env.read("ours-p.json")).unwrap();
    let armored = age_entry(&ours, &recipient)["enc"].as_str().unwrap();
    let run = with_plugin(env.command("age", &["-d", "-i", "plugin.txt"])).stdin(armored);
    assert!(run.output.status.success(), "age -d: {}", run.stderr());
    assert_eq!(run.output.stdout.len(), 32);
    // sops records the recipient as given, as sealbox does.
    let sops_file: serde_json::Value = serde_json::from_str(&env.read("sops-p.json")).unwrap();
    assert_eq!(
        age_entry(&sops_file, &recipient)["recipient"],
        recipient.as_str()
    );
}

#[test]
fn plugin_keys_mix_with_native_ones_and_a_missing_plugin_is_named() {
    let (env, age) = setup();
    let recipient = plugin_keygen(&env, "plugin.txt");
    env.write("p.env", DOTENV);
    let both = format!("{recipient},{age}");
    let enc = with_plugin(env.sealbox(&["encrypt", "--age", &both, "p.env"]))
        .run()
        .ok();
    env.write("enc.env", &enc);
    // The age key alone opens it, with no plugin installed.
    let plain = with_key(&env, env.sealbox(&["decrypt", "enc.env"]))
        .run()
        .ok();
    let want = with_key(&env, env.sops(&["decrypt", "enc.env"])).run().ok();
    assert_eq!(plain, want);
    // The plugin identity alone opens it too.
    let by_plugin = with_identity(&env, env.sealbox(&["decrypt", "enc.env"]), "plugin.txt")
        .run()
        .ok();
    assert_eq!(by_plugin, plain);
    // Without the plugin on PATH: refused, naming the plugin to install.
    let mut cmd = env.sealbox(&["encrypt", "--age", &recipient, "p.env"]);
    cmd.0.env("PATH", "/usr/bin:/bin");
    let run = cmd.run();
    run.fails();
    assert!(
        run.stderr().contains("age-plugin-sbtest"),
        "{}",
        run.stderr()
    );
    let mut cmd = env.sealbox(&["decrypt", "enc.env"]);
    cmd.0
        .env("PATH", "/usr/bin:/bin")
        .env("SOPS_AGE_KEY_FILE", env.path("plugin.txt"));
    let run = cmd.run();
    run.fails();
    assert_eq!(exit_code(&run), 128);
    assert!(
        run.stderr().contains("age-plugin-sbtest"),
        "{}",
        run.stderr()
    );
}
