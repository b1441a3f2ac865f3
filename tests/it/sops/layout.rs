//! Indentation settings: `.sops.yaml` `stores:` (`yaml`, `json`, `json_binary`) and sops's
//! global `--indent`, checked against the real sops in both directions. Encrypted files differ
//! in their random parts only, so they are compared with those masked; decrypted files are
//! compared byte for byte.

use super::*;

/// The data part of an encrypted file with the random values blanked. The `sops` block is
/// left out: the peer (3.11) writes its older field order and version, which sealbox (3.13's
/// layout) does not copy; that each tool reads the other's block is checked by decrypting.
fn masked(text: &str) -> String {
    let enc = regex::Regex::new(r"ENC\[[^\]]*\]").unwrap();
    let metadata = regex::Regex::new(r#"^(sops:|\s*"sops": \{|sops_)"#).unwrap();
    text.lines()
        .take_while(|l| !metadata.is_match(l))
        .map(|l| enc.replace_all(l, "ENC[…]").into_owned() + "\n")
        .collect()
}

const NESTED_YAML: &str = "a:\n  b: [1, {c: 2, d: [x, y]}]\n  e: \" lead\\nx\"\n  f:\n    - - deep\n      - er\n  g: |\n    two\n    lines\nl:\n  - k: v\n    m:\n      n: 1\n";
const NESTED_JSON: &str = "{\"a\": {\"b\": [1, {\"c\": 2, \"d\": []}], \"e\": {}}, \"s\": \"x\"}";

/// Encrypts with both tools under the same `.sops.yaml`, checks the layouts agree, and that
/// each tool decrypts the other's file to the same bytes as sops gives.
fn both_ways(env: &Env, r: &str, name: &str, plain: &str) {
    env.write(name, plain);
    let theirs = env.sops(&["encrypt", "--age", r, name]).run();
    assert!(theirs.output.status.success(), "{}", theirs.stderr());
    let theirs = String::from_utf8(theirs.output.stdout).unwrap();
    let ours = env
        .sealbox(&["sops", "encrypt", "--age", r, name])
        .run()
        .ok();
    assert_eq!(masked(&ours), masked(&theirs), "{name}");
    env.write(&format!("sops-{name}"), &theirs);
    env.write(&format!("ours-{name}"), &ours);
    let reference = with_key(env, env.sops(&["decrypt", &format!("sops-{name}")]))
        .run()
        .ok();
    for file in [format!("sops-{name}"), format!("ours-{name}")] {
        let by_us = with_key(env, env.sealbox(&["decrypt", &file])).run().ok();
        assert_eq!(by_us, reference, "sealbox decrypt {file}");
        let by_sops = with_key(env, env.sops(&["decrypt", &file])).run().ok();
        assert_eq!(by_sops, reference, "sops decrypt {file}");
    }
}

#[test]
fn stores_indent_settings_match_sops_both_ways() {
    let (env, r) = setup();
    // yaml.v3 takes 2..=9 as given and anything else as 2; JSON 0 is line breaks only.
    for (yaml, json) in [(2, 0), (3, 2), (1, 3), (10, -1), (8, 4)] {
        env.write(
            ".sops.yaml",
            format!("stores:\n  yaml:\n    indent: {yaml}\n  json:\n    indent: {json}\n  json_binary:\n    indent: {json}\n  dotenv: {{}}\n  ini: {{}}\n"),
        );
        both_ways(&env, &r, "p.yaml", NESTED_YAML);
        // (A comment opening a list is an item to sops 3.11, a comment to sealbox and
        // 3.13: another matter, so not in this comparison.)
        both_ways(&env, &r, "y.yaml", &YAML.replace("  # first item\n", ""));
        both_ways(&env, &r, "p.json", NESTED_JSON);
        both_ways(&env, &r, "j.json", JSON);
        both_ways(&env, &r, "b.bin", "binary\n");
        both_ways(&env, &r, "p.env", DOTENV);
    }
}

#[test]
fn stores_settings_apply_to_changes_and_refusals_match_sops() {
    let (env, r) = setup();
    env.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {r}\nstores:\n  yaml:\n    indent: 2\n"),
    );
    env.write("p.yaml", NESTED_YAML);
    let enc = env.sealbox(&["encrypt", "p.yaml"]).run().ok();
    env.write("enc.yaml", &enc);
    // set writes the file back with the same layout sops uses for it.
    with_key(
        &env,
        env.sealbox(&["set", "enc.yaml", "[\"s\"]", "\"new\""]),
    )
    .run()
    .ok();
    env.write("theirs.yaml", &enc);
    let run = with_key(
        &env,
        env.sops(&["set", "theirs.yaml", "[\"s\"]", "\"new\""]),
    )
    .run();
    assert!(run.output.status.success(), "{}", run.stderr());
    assert_eq!(
        masked(&env.read("enc.yaml")),
        masked(&env.read("theirs.yaml"))
    );

    // Negative YAML and JSON below -1: sops's ErrorDumpingTree (4), nothing written.
    env.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {r}\nstores:\n  yaml:\n    indent: -1\n  json:\n    indent: -2\n"),
    );
    env.write("p.json", NESTED_JSON);
    for name in ["p.yaml", "p.json"] {
        let theirs = env.sops(&["encrypt", name]).run();
        let ours = env.sealbox(&["sops", "encrypt", name]).run();
        ours.fails();
        assert_eq!(
            exit_code(&ours),
            theirs.output.status.code().unwrap(),
            "{name}"
        );
        assert_eq!(exit_code(&ours), 4);
        assert!(ours.output.stdout.is_empty());
    }
    // Only the store that writes checks its value: dotenv is fine.
    env.write("p.env", DOTENV);
    env.sealbox(&["sops", "encrypt", "p.env"]).run().ok();
}

#[test]
fn indent_flag_overrides_stores_like_sops() {
    let (env, r) = setup();
    env.write(".sops.yaml", "stores:\n  yaml:\n    indent: 2\n");
    env.write("p.yaml", NESTED_YAML);
    env.write("p.json", NESTED_JSON);
    for name in ["p.yaml", "p.json"] {
        // The legacy form takes sops's global --indent (sops 3.11 reads it there only).
        let theirs = env.sops(&["--indent", "3", "-e", "--age", &r, name]).run();
        assert!(theirs.output.status.success(), "{}", theirs.stderr());
        let theirs = String::from_utf8(theirs.output.stdout).unwrap();
        let ours = env
            .sealbox(&["sops", "--indent", "3", "-e", "--age", &r, name])
            .run()
            .ok();
        assert_eq!(masked(&ours), masked(&theirs), "{name}");
        // sealbox's own command takes it as a flag of encrypt and decrypt.
        let native = env
            .sealbox(&["encrypt", "--indent", "3", "--age", &r, name])
            .run()
            .ok();
        assert_eq!(masked(&native), masked(&theirs), "{name}");
        env.write(&format!("enc-{name}"), &theirs);
        let want = with_key(
            &env,
            env.sops(&["--indent", "5", "-d", &format!("enc-{name}")]),
        )
        .run()
        .ok();
        let got = with_key(
            &env,
            env.sealbox(&["decrypt", "--indent", "5", &format!("enc-{name}")]),
        )
        .run()
        .ok();
        assert_eq!(got, want, "{name}");
        let got = with_key(
            &env,
            env.sealbox(&["sops", "--indent", "5", "-d", &format!("enc-{name}")]),
        )
        .run()
        .ok();
        assert_eq!(got, want, "{name}");
    }
}
