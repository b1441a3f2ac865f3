//! `sealbox age keygen` and `sealbox age recipient` against Go's age and age-keygen (Debian),
//! both ways: a key sealbox makes works with Go age and sops; a key age-keygen makes gives the
//! same recipient with sealbox as with `age-keygen -y`.

use std::os::unix::fs::PermissionsExt;

use sealbox_tests::Env;

/// The three lines of an age-keygen key file: (created, public key, secret key).
fn key_lines(text: &str) -> (String, String, String) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{}", lines.len());
    let created = lines[0]
        .strip_prefix("# created: ")
        .expect("# created: line");
    let public = lines[1]
        .strip_prefix("# public key: ")
        .expect("# public key: line");
    assert!(public.starts_with("age1") && public.len() == 62, "{public}");
    assert!(lines[2].starts_with("AGE-SECRET-KEY-1") && lines[2].len() == 74);
    assert!(text.ends_with('\n'));
    (created.to_owned(), public.to_owned(), lines[2].to_owned())
}

/// RFC 3339 with seconds and a zone, as Go's time.RFC3339 prints it.
fn is_rfc3339(stamp: &str) -> bool {
    let re = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$").unwrap();
    re.is_match(stamp)
}

#[test]
fn a_key_sealbox_makes_is_age_keygens_format_and_works_with_go_age() {
    let env = Env::new();
    let run = env.sealbox(&["age", "keygen", "-o", "key.txt"]).run();
    run.ok();
    assert_eq!(run.stdout(), "");
    let text = env.read("key.txt");
    let (created, public, _) = key_lines(&text);
    assert!(is_rfc3339(&created), "{created}");
    assert_eq!(run.stderr(), format!("Public key: {public}\n"));
    let mode = std::fs::metadata(env.path("key.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Go's own key file has the same shape.
    env.age_keygen("go.txt");
    let (go_created, ..) = key_lines(&env.read("go.txt"));
    assert!(is_rfc3339(&go_created), "{go_created}");

    // age-keygen -y agrees on the public key; Go age encrypts to it and decrypts with it.
    assert_eq!(
        env.command("age-keygen", &["-y", "key.txt"]).run().ok(),
        format!("{public}\n")
    );
    let sealed = env
        .command("age", &["-r", &public, "-a"])
        .stdin("for sealbox's key\n");
    let armored = sealed.ok();
    let opened = env.command("age", &["-d", "-i", "key.txt"]).stdin(&armored);
    assert_eq!(opened.ok(), "for sealbox's key\n");
    // sops takes it as an identity file too.
    env.write("p.env", "A=b\n");
    let enc = env.sops(&["encrypt", "--age", &public, "p.env"]).run();
    assert!(enc.output.status.success(), "{}", enc.stderr());
    env.write("e.env", &enc.output.stdout);
    let mut dec = env.sops(&["decrypt", "e.env"]);
    dec.0.env("SOPS_AGE_KEY_FILE", env.path("key.txt"));
    assert_eq!(dec.run().ok(), "A=b\n");
}

#[test]
fn keygen_never_overwrites_a_file() {
    let env = Env::new();
    env.write("key.txt", "the only copy\n");
    let run = env.sealbox(&["age", "keygen", "-o", "key.txt"]).run();
    let stderr = run.fails();
    assert!(stderr.contains("key.txt already exists"), "{stderr}");
    assert!(!stderr.contains("AGE-SECRET-KEY"), "{stderr}");
    assert_eq!(env.read("key.txt"), "the only copy\n");
    // age-keygen refuses too.
    assert!(
        !env.command("age-keygen", &["-o", "key.txt"])
            .run()
            .output
            .status
            .success()
    );
}

#[test]
fn keygen_to_a_pipe_prints_the_key_and_the_public_key_on_stderr() {
    let env = Env::new();
    let run = env.sealbox(&["age", "keygen"]).run();
    let text = run.ok();
    let (_, public, secret) = key_lines(&text);
    assert_eq!(run.stderr(), format!("Public key: {public}\n"));
    // Two runs make two keys.
    let (_, other, _) = key_lines(&env.sealbox(&["age", "keygen"]).run().ok());
    assert_ne!(public, other);
    // The secret key alone (SOPS_AGE_KEY style) gives the same recipient.
    let run = env
        .sealbox(&["age", "recipient"])
        .stdin(format!("{secret}\n"));
    assert_eq!(run.ok(), format!("{public}\n"));
}

#[test]
fn recipient_of_go_made_keys_equals_age_keygen_y() {
    let env = Env::new();
    let one = env.age_keygen("one.txt");
    let two = env.age_keygen("two.txt");
    for file in ["one.txt", "two.txt"] {
        let ours = env.sealbox(&["age", "recipient", "-i", file]).run().ok();
        let theirs = env.command("age-keygen", &["-y", file]).run().ok();
        assert_eq!(ours, theirs, "{file}");
    }
    let both = env
        .sealbox(&["age", "recipient", "-i", "one.txt", "--identity", "two.txt"])
        .run();
    assert_eq!(both.ok(), format!("{one}\n{two}\n"));
    // stdin, several identities in one file, comments and blank lines skipped.
    let joined = format!("{}\n\n{}", env.read("one.txt"), env.read("two.txt"));
    let run = env.sealbox(&["age", "recipient"]).stdin(&joined);
    assert_eq!(run.ok(), format!("{one}\n{two}\n"));
    let theirs = env.command("age-keygen", &["-y"]).stdin(&joined);
    assert_eq!(theirs.ok(), format!("{one}\n{two}\n"));
}

#[test]
fn recipient_of_something_else_fails_without_echoing_it() {
    let env = Env::new();
    let secretish = "AGE-SECRET-KEY-1QQQQNOTAKEYATALLQQQQ";
    let run = env
        .sealbox(&["age", "recipient"])
        .stdin(format!("{secretish}\n"));
    let stderr = run.fails();
    assert!(!stderr.contains("NOTAKEY"), "{stderr}");
    assert!(stderr.contains("stdin"), "{stderr}");
    let missing = env.sealbox(&["age", "recipient", "-i", "nope.txt"]).run();
    assert!(missing.fails().contains("nope.txt"), "{}", missing.stderr());
    let empty = env.sealbox(&["age", "recipient"]).stdin("# nothing\n");
    assert!(
        empty.fails().contains("no age identity found"),
        "{}",
        empty.stderr()
    );
}
