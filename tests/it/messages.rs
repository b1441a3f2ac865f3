//! Messages say what happened and what to do, in the user's terms: no library settings or type
//! names, no input values.

use sealbox_tests::Env;

const AGE_RECIPIENT: &str = "age18qkuj92r6nkslgh3gpy38sqtmqd0p2k9swgflrp7ekyu9w3v4fsqh8dwz5";

#[test]
fn yaml_limits_and_duplicate_keys_are_said_in_words() {
    let env = Env::with_keys();
    let duplicate = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  namespace: b\nstringData:\n  pw: one-Secret-value\n  pw: other-Secret-value\n";
    let err = env.sealbox(&["seal"]).stdin(duplicate).fails();
    assert!(
        err.contains("the key pw appears twice in one mapping at line 8"),
        "{err}"
    );
    assert!(
        !err.contains("DuplicateKeyPolicy") && !err.contains("Secret-value"),
        "{err}"
    );

    let mut huge = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  namespace: b\nstringData:\n",
    );
    for i in 0..260_000 {
        huge.push_str(&format!("  k{i}: v\n"));
    }
    let err = env.sealbox(&["seal"]).stdin(huge).fails();
    assert!(
        err.contains("larger or more deeply nested than sealbox reads"),
        "{err}"
    );
    assert!(!err.contains("budget") && !err.contains("Nodes {"), "{err}");
}

#[test]
fn an_age_identity_given_to_unseal_is_named_as_such() {
    let env = Env::new();
    env.age_keygen("age.txt");
    let sealed = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: web\n  namespace: default\nspec:\n  encryptedData:\n    a: AAAA\n";
    let err = env
        .sealbox(&["unseal", "-k", "age.txt"])
        .stdin(sealed)
        .fails();
    assert!(err.contains("age.txt: this is an age identity"), "{err}");
    assert!(
        !err.contains("malformed YAML") && !err.contains("AGE-SECRET-KEY"),
        "{err}"
    );
}

#[test]
fn a_file_that_does_not_parse_in_the_format_its_name_picks_says_how_to_pick_another() {
    let env = Env::new();
    env.write("values.json", "password: hunter2\n");
    let run = env
        .sealbox(&["encrypt", "--age", AGE_RECIPIENT, "values.json"])
        .run();
    let err = run.fails();
    assert_eq!(run.output.status.code(), Some(2), "{err}");
    assert!(err.contains("read as json because of its name"), "{err}");
    assert!(err.contains("--input-type"), "{err}");
    // With --input-type the choice was the user's: no hint, and it works.
    env.sealbox(&[
        "encrypt",
        "--age",
        AGE_RECIPIENT,
        "--input-type",
        "yaml",
        "values.json",
    ])
    .run()
    .ok();
}
