//! A run killed while it rewrites a file in place (`decrypt -i`, `encrypt -i`) leaves the file
//! whole (its old or its new content, byte for byte) and, once another sealbox run has written
//! into that directory, no plaintext anywhere else in it. SIGTERM needs no later run: sealbox
//! removes its temp file itself.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use sealbox_tests::Env;

/// In every plaintext value, never in ciphertext.
const MARKER: &str = "PLAINMARK";

/// About 2 MB of dotenv: long enough to encrypt or decrypt that a kill lands mid-run.
fn plaintext() -> String {
    (0..40_000)
        .map(|i| format!("KEY_{i}={MARKER}-{i:08}-abcdefghijklmnopqrstuvwxyz\n"))
        .collect()
}

/// A small xorshift generator; the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("SEALBOX_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        eprintln!("SEALBOX_TEST_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// An environment with an age identity in `key.txt` and an empty `work/` directory.
fn setup() -> (Env, String) {
    let env = Env::new();
    let recipient = env.age_keygen("key.txt");
    std::fs::create_dir(env.path("work")).unwrap();
    (env, recipient)
}

/// `sealbox ARGS` started in the background, with the identity and no output.
fn spawn(env: &Env, args: &[&str]) -> Child {
    let mut cmd = env.sealbox(args);
    cmd.0
        .env("SOPS_AGE_KEY_FILE", env.path("key.txt"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.0.spawn().unwrap()
}

fn sealbox_ok(env: &Env, args: &[&str]) -> Vec<u8> {
    let mut cmd = env.sealbox(args);
    cmd.0.env("SOPS_AGE_KEY_FILE", env.path("key.txt"));
    let run = cmd.run();
    run.ok();
    run.output.stdout
}

/// The names in `dir` that are sealbox temp files.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".sealbox-"))
        .collect()
}

/// Waits until a temp file other than `before` appears in `dir` (returning its mode, if it
/// could still be read) or the child ends.
fn await_temp_file(child: &mut Child, dir: &Path, before: &[String]) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if let Some(name) = temp_files(dir).iter().find(|n| !before.contains(n)) {
            return Some(
                std::fs::symlink_metadata(dir.join(name))
                    .map_or(0o600, |m| m.permissions().mode() & 0o7777),
            );
        }
        assert!(Instant::now() < deadline, "the run never wrote");
        std::thread::sleep(Duration::from_micros(200));
    }
    None
}

fn killed(status: ExitStatus) -> bool {
    status.signal() == Some(9)
}

/// Kills the run `args` (`decrypt -i` or `encrypt -i` of `work/app.env`, which holds `old`)
/// ten times at random moments and three times while it writes, and checks after each kill
/// that the file is whole: `old`, or what a whole run makes of it (`is_new`).
fn kill_repeatedly(
    env: &Env,
    rng: &mut Rng,
    args: &[&str],
    old: &[u8],
    is_new: &dyn Fn(&[u8]) -> bool,
) -> usize {
    let target = env.path("work/app.env");
    let work = env.path("work");
    // One whole run sets how long to wait at most before a kill.
    std::fs::write(&target, old).unwrap();
    let start = Instant::now();
    let status = spawn(env, args).wait().unwrap();
    assert!(status.success(), "{args:?} failed: {status}");
    let whole = start.elapsed().as_millis() as u64;
    assert!(is_new(&std::fs::read(&target).unwrap()), "{args:?}");
    let mut kills = 0;
    let (mut random, mut at_write) = (0, 0);
    for _ in 0..60 {
        if random == 10 && at_write == 3 {
            break;
        }
        std::fs::write(&target, old).unwrap();
        let before = temp_files(&work);
        let mut child = spawn(env, args);
        let during_write = random == 10;
        if during_write {
            if let Some(mode) = await_temp_file(&mut child, &work, &before) {
                assert_eq!(mode, 0o600, "a temp file is private from the start");
            }
        } else {
            std::thread::sleep(Duration::from_millis(rng.below(whole)));
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        let content = std::fs::read(&target).unwrap();
        assert!(
            content == old || is_new(&content),
            "{args:?} killed ({status}) left {} neither old nor new",
            target.display()
        );
        if killed(status) {
            kills += 1;
            if during_write {
                at_write += 1;
            } else {
                random += 1;
            }
        }
    }
    assert_eq!((random, at_write), (10, 3), "{args:?}: kills that landed");
    kills
}

#[test]
fn runs_killed_mid_write_leave_no_plaintext_after_the_next_run() {
    let (env, r) = setup();
    let mut rng = Rng::new();
    let plain = plaintext();
    env.write("plain.env", &plain);
    let encrypted = sealbox_ok(&env, &["encrypt", "--age", &r, "plain.env"]);
    std::fs::remove_file(env.path("plain.env")).unwrap();
    let decrypts_to_plain = |bytes: &[u8]| {
        if bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()) {
            return false;
        }
        env.write("check.env", bytes);
        let out = sealbox_ok(&env, &["decrypt", "check.env"]);
        std::fs::remove_file(env.path("check.env")).unwrap();
        out == plain.as_bytes()
    };
    let mut kills = kill_repeatedly(
        &env,
        &mut rng,
        &["decrypt", "-i", "work/app.env"],
        &encrypted,
        &|bytes| bytes == plain.as_bytes(),
    );
    kills += kill_repeatedly(
        &env,
        &mut rng,
        &["encrypt", "-i", "--age", &r, "work/app.env"],
        plain.as_bytes(),
        &decrypts_to_plain,
    );
    assert!(kills >= 20);
    let leftovers = temp_files(&env.path("work"));
    assert!(
        !leftovers.is_empty(),
        "the kills while writing leave temp files for the next run to remove"
    );

    // A leftover is removed once its owner is dead and it is a few seconds old.
    std::thread::sleep(Duration::from_secs(6));
    env.write("work/other.env", "OTHER=value\n");
    sealbox_ok(&env, &["encrypt", "-i", "--age", &r, "work/other.env"]);

    for entry in std::fs::read_dir(env.path("work")).unwrap() {
        let path = entry.unwrap().path();
        if path != env.path("work/app.env") {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
                "plaintext left in {}",
                path.display()
            );
        }
    }
    let mut names: Vec<String> = std::fs::read_dir(env.path("work"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["app.env", "other.env"],
        "left before: {leftovers:?}"
    );
    let app = std::fs::read(env.path("work/app.env")).unwrap();
    assert!(app == plain.as_bytes() || decrypts_to_plain(&app));
}

#[test]
fn sigterm_mid_write_removes_the_temp_file() {
    let (env, r) = setup();
    let plain = plaintext();
    env.write("plain.env", &plain);
    let encrypted = sealbox_ok(&env, &["encrypt", "--age", &r, "plain.env"]);
    std::fs::remove_file(env.path("plain.env")).unwrap();
    let target = env.path("work/app.env");
    // The signal must land in the few milliseconds the temp file exists: a few tries.
    for _ in 0..20 {
        std::fs::write(&target, &encrypted).unwrap();
        let mut child = spawn(&env, &["decrypt", "-i", "work/app.env"]);
        if await_temp_file(&mut child, &env.path("work"), &[]).is_none() {
            continue;
        }
        env.command("kill", &["-TERM", &child.id().to_string()])
            .run()
            .ok();
        let status = child.wait().unwrap();
        let content = std::fs::read(&target).unwrap();
        assert_eq!(temp_files(&env.path("work")), Vec::<String>::new());
        if content == plain.as_bytes() {
            // The signal came after the rename: too late to test anything.
            continue;
        }
        assert_eq!(content, encrypted, "the file is left as it was");
        assert_eq!(status.code(), Some(128 + 15), "{status}");
        return;
    }
    panic!("SIGTERM never landed while the temp file existed");
}

#[test]
fn a_killed_edit_leaves_its_private_directory_to_the_next_run() {
    let (env, r) = setup();
    let plain = "SECRET=PLAINMARK-edit\n";
    env.write("work/app.env", plain);
    sealbox_ok(&env, &["encrypt", "-i", "--age", &r, "work/app.env"]);
    std::fs::create_dir(env.path("tmp")).unwrap();
    // The "editor" says where the plaintext is, then waits (as itself, `exec`) to be killed.
    env.write(
        "editor.sh",
        "#!/bin/sh\necho $$ > editor.pid\necho \"$1\" > where.tmp\nmv where.tmp where.txt\nexec sleep 60\n",
    );
    std::fs::set_permissions(env.path("editor.sh"), PermissionsExt::from_mode(0o755)).unwrap();
    let mut edit = env.sealbox(&["edit", "work/app.env"]);
    edit.0
        .env("SOPS_AGE_KEY_FILE", env.path("key.txt"))
        .env("EDITOR", env.path("editor.sh"))
        .env("TMPDIR", env.path("tmp"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = edit.0.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !env.path("where.txt").exists() {
        assert!(Instant::now() < deadline, "the editor never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let copy = std::path::PathBuf::from(env.read("where.txt").trim());
    child.kill().unwrap();
    assert!(killed(child.wait().unwrap()));
    // The editor (`sleep`) outlives sealbox; it is not sealbox's to clean up.
    env.command("kill", &["-KILL", env.read("editor.pid").trim()])
        .run()
        .ok();
    let private = copy.parent().unwrap().to_owned();
    assert!(private.starts_with(env.path("tmp")));
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), plain);

    std::thread::sleep(Duration::from_secs(6));
    let mut next = env.sealbox(&["exec-file", "work/app.env", "true"]);
    next.0
        .env("SOPS_AGE_KEY_FILE", env.path("key.txt"))
        .env("TMPDIR", env.path("tmp"));
    next.run().ok();
    let left: Vec<_> = std::fs::read_dir(env.path("tmp")).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
