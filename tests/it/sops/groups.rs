//! `groups add` and `groups delete`, step by step on the same input with the real sops and
//! with sealbox: the same key groups and threshold, the data part, MAC and `lastmodified`
//! untouched, and each tool's result opened by both.

use serde_json::Value as Json;

use super::*;

/// Recipients per key group (the top-level `age` list as one group) and the threshold.
fn shape(file: &Json) -> (Vec<Vec<String>>, u64) {
    let sops = &file["sops"];
    let recipients = |list: &Json| -> Vec<String> {
        list.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["recipient"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    let groups = match sops["key_groups"].as_array() {
        Some(groups) if !groups.is_empty() => {
            groups.iter().map(|g| recipients(&g["age"])).collect()
        }
        _ => vec![recipients(&sops["age"])],
    };
    (groups, sops["shamir_threshold"].as_u64().unwrap_or(0))
}

struct Keys {
    env: Env,
    r: Vec<String>,
}

impl Keys {
    fn all(&self, mut cmd: sealbox_tests::Cmd) -> sealbox_tests::Cmd {
        let keys: String = (0..3)
            .map(|i| self.env.read(&format!("k{i}.txt")))
            .collect();
        cmd.0.env("SOPS_AGE_KEY", keys);
        cmd
    }

    /// Runs `groups ARGS --file FROM` with both tools; checks they agree and writes sops's
    /// result to `to` (the input of the next step).
    fn step(&self, from: &str, to: &str, args: &[&str]) {
        let env = &self.env;
        let with_file = |extra: &[&str]| -> Vec<String> {
            let mut v: Vec<String> = vec!["groups".into()];
            v.extend(args.iter().map(|a| a.to_string()));
            v.extend(["--file".into(), from.into()]);
            v.extend(extra.iter().map(|a| a.to_string()));
            v
        };
        let sops_args = with_file(&[]);
        let theirs = self
            .all(env.sops(&sops_args.iter().map(String::as_str).collect::<Vec<_>>()))
            .run();
        assert!(
            theirs.output.status.success(),
            "sops {args:?}: {}",
            theirs.stderr()
        );
        let mut ours_args = vec!["sops".to_owned()];
        ours_args.extend(with_file(&[]));
        let ours = self
            .all(env.sealbox(&ours_args.iter().map(String::as_str).collect::<Vec<_>>()))
            .run()
            .ok();
        let before: Json = serde_json::from_str(&env.read(from)).unwrap();
        let theirs_json: Json = serde_json::from_slice(&theirs.output.stdout).unwrap();
        let ours_json: Json = serde_json::from_str(&ours).unwrap();
        assert_eq!(shape(&ours_json), shape(&theirs_json), "{args:?}");
        for field in ["mac", "lastmodified"] {
            assert_eq!(ours_json["sops"][field], before["sops"][field], "{field}");
        }
        let data = |j: &Json| {
            let mut j = j.clone();
            j.as_object_mut().unwrap().remove("sops");
            j
        };
        assert_eq!(
            data(&ours_json),
            data(&before),
            "values keep their ciphertext"
        );
        env.write(to, &theirs.output.stdout);
        env.write(&format!("ours-{to}"), &ours);
        // Each tool opens the other's result.
        let want = self.all(env.sops(&["decrypt", to])).run().ok();
        assert_eq!(want, JSON);
        assert_eq!(self.all(env.sealbox(&["decrypt", to])).run().ok(), JSON);
        let ours_file = format!("ours-{to}");
        assert_eq!(
            self.all(env.sops(&["decrypt", &ours_file])).run().ok(),
            JSON
        );
    }

    /// Both tools refuse `groups ARGS --file FROM`, with the same status.
    fn both_refuse(&self, from: &str, args: &[&str]) {
        let env = &self.env;
        let mut full: Vec<&str> = vec!["groups"];
        full.extend(args);
        full.extend(["--file", from]);
        let theirs = self.all(env.sops(&full)).run();
        assert!(!theirs.output.status.success(), "sops {args:?}");
        let mut ours_args = vec!["sops"];
        ours_args.extend(&full);
        let ours = self.all(env.sealbox(&ours_args)).run();
        ours.fails();
        assert_eq!(
            exit_code(&ours),
            theirs.output.status.code().unwrap(),
            "{args:?}: {}",
            ours.stderr()
        );
        assert!(ours.output.stdout.is_empty());
    }
}

#[test]
fn groups_add_and_delete_match_sops() {
    let env = Env::new();
    let r: Vec<String> = (0..3)
        .map(|i| env.age_keygen(&format!("k{i}.txt")))
        .collect();
    let keys = Keys { env, r };
    let (env, r) = (&keys.env, &keys.r);
    env.write("p.json", JSON);
    let enc = env.sops(&["encrypt", "--age", &r[0], "p.json"]).run();
    assert!(enc.output.status.success(), "{}", enc.stderr());
    env.write("e0.json", &enc.output.stdout);

    // One group → two: Shamir over both (threshold: all).
    keys.step("e0.json", "e1.json", &["add", "--age", &r[1]]);
    // A third group of two keys, one of them in another group too, with a threshold.
    let both = format!("{},{}", r[2], r[0]);
    keys.step(
        "e1.json",
        "e2.json",
        &[
            "add",
            "--age",
            &both,
            "--shamir-secret-sharing-threshold",
            "2",
        ],
    );
    keys.step("e2.json", "e3.json", &["delete", "0"]);
    // Down to one group: only with a threshold it can meet (sops records it).
    keys.both_refuse("e3.json", &["delete", "1"]);
    keys.step(
        "e3.json",
        "e4.json",
        &["delete", "1", "--shamir-secret-sharing-threshold", "1"],
    );
    keys.both_refuse("e2.json", &["delete", "not-a-number"]);
    keys.both_refuse("e2.json", &["add", "--age", &r[1], "extra"]);
    keys.both_refuse("e2.json", &["delete"]);
    keys.both_refuse("e2.json", &["delete", "0", "1"]);

    // --in-place (sealbox's own command line too), then both read it.
    std::fs::copy(env.path("e0.json"), env.path("inplace.json")).unwrap();
    keys.all(env.sealbox(&[
        "groups",
        "add",
        "-i",
        "--file",
        "inplace.json",
        "--age",
        &r[2],
    ]))
    .run()
    .ok();
    let written: Json = serde_json::from_str(&env.read("inplace.json")).unwrap();
    assert_eq!(
        shape(&written),
        (vec![vec![r[0].clone()], vec![r[2].clone()]], 2)
    );
    let mut one = env.sops(&["decrypt", "inplace.json"]);
    one.0.env("SOPS_AGE_KEY", env.read("k0.txt"));
    assert!(
        !one.run().output.status.success(),
        "one group of two is not enough"
    );
    assert_eq!(
        keys.all(env.sops(&["decrypt", "inplace.json"])).run().ok(),
        JSON
    );
    // `remove` is sealbox's other name for delete.
    keys.all(env.sealbox(&[
        "groups",
        "remove",
        "-i",
        "--file",
        "inplace.json",
        "1",
        "--shamir-secret-sharing-threshold",
        "1",
    ]))
    .run()
    .ok();
    let written: Json = serde_json::from_str(&env.read("inplace.json")).unwrap();
    assert_eq!(shape(&written), (vec![vec![r[0].clone()]], 1));
}
