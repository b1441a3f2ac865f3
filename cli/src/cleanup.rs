//! Every temporary artifact sealbox creates, and how none is left behind with plaintext.
//!
//! Which function when:
//! - [`temp_file_in`]: the temp file of an atomic write (`io::write_output`), created 0600
//!   beside its target before any byte is written, renamed over the target or removed.
//! - [`PrivateDir::new`]: the 0700 directory an editor (`edit`) or a command (`exec-file`)
//!   gets the plaintext in, removed when dropped.
//! - [`foreground_child`]: around a command sealbox waits for (the editor, `exec-file`'s
//!   command), so Ctrl-C goes to that command and does not end sealbox under it.
//!
//! Both kinds of artifact are registered here while they exist. SIGTERM, SIGINT and SIGHUP
//! (unless ignored when sealbox started, as under `nohup`) remove every registered artifact
//! and end sealbox with status 128 + the signal's number (as a shell reports a process the
//! signal killed). Only SIGKILL (or a crash) can leave one behind, so each name carries its
//! owner's process ID:
//! - `.sealbox-<pid>-<random>.tmp` for a temp file, beside its target;
//! - `sealbox-edit-<pid>-<random>` and `sealbox-exec-<pid>-<random>` for a private directory,
//!   in the system's temp directory (`$TMPDIR`, else `/tmp`);
//!
//! and the next sealbox run that creates one in the same directory removes those whose owner
//! is no longer running ([`is_stale`]).
//!
//! ```no_run
//! # fn demo() -> std::io::Result<()> {
//! let mut tmp = cleanup::temp_file_in(std::path::Path::new("."))?;
//! std::io::Write::write_all(tmp.as_file_mut(), b"text")?;
//! tmp.persist(std::path::Path::new("out.txt"))?;
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// How an artifact's name is made: `<prefix><pid>-<random><suffix>`.
struct Pattern {
    prefix: &'static str,
    suffix: &'static str,
    dir: bool,
}

/// An atomic write's temp file, beside its target.
const TEMP_FILE: Pattern = Pattern {
    prefix: ".sealbox-",
    suffix: ".tmp",
    dir: false,
};

/// The private directories, in the system's temp directory.
const PRIVATE_DIRS: [Pattern; 2] = [
    Pattern {
        prefix: "sealbox-edit-",
        suffix: "",
        dir: true,
    },
    Pattern {
        prefix: "sealbox-exec-",
        suffix: "",
        dir: true,
    },
];

/// A leftover younger than this is not touched even when its owner looks dead: a process in
/// another PID namespace sharing the directory may still be writing it.
const STALE_AFTER: Duration = Duration::from_secs(5);

/// Whether `name` (one path component) is named like a sealbox artifact: a temp file or a
/// private directory, of any version (older temp files had no PID in their name).
pub fn is_artifact_name(name: &str) -> bool {
    std::iter::once(&TEMP_FILE)
        .chain(&PRIVATE_DIRS)
        .any(|pattern| name.starts_with(pattern.prefix))
}

/// The process that created the artifact named `name`, if the name is one of `pattern`'s.
fn owner(name: &str, pattern: &Pattern) -> Option<u32> {
    let rest = name
        .strip_prefix(pattern.prefix)?
        .strip_suffix(pattern.suffix)?;
    let (pid, random) = rest.split_once('-')?;
    let valid = !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && !random.is_empty()
        && random.bytes().all(|b| b.is_ascii_alphanumeric());
    pid.parse().ok().filter(|&p: &u32| valid && p > 0)
}

/// What a sweep found out about an entry whose name is one of ours.
#[derive(Clone, Copy)]
struct Leftover {
    owner_alive: bool,
    /// Owned by the user sealbox runs as.
    ours: bool,
    /// A regular file (or a directory, for a private directory), not a link.
    right_kind: bool,
    /// Since it was last modified.
    age: Duration,
}

/// Whether a leftover may be removed: its owner is gone, it is ours and not brand new.
fn is_stale(found: Leftover) -> bool {
    !found.owner_alive && found.ours && found.right_kind && found.age >= STALE_AFTER
}

/// Whether process `pid` exists (one of another user counts: it cannot be signalled, but it
/// is there).
fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return true;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Removes the stale artifacts of `patterns` in `dir`. Best effort: what cannot be listed or
/// removed stays.
fn sweep(dir: &Path, patterns: &[Pattern]) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let me = rustix::process::geteuid().as_raw();
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        for pattern in patterns {
            let Some(pid) = owner(name, pattern) else {
                continue;
            };
            if pid == std::process::id() {
                continue;
            }
            // The entry itself, never what a link points at.
            let Ok(meta) = fs::symlink_metadata(entry.path()) else {
                continue;
            };
            let found = Leftover {
                owner_alive: alive(pid),
                ours: meta.uid() == me,
                right_kind: if pattern.dir {
                    meta.is_dir()
                } else {
                    meta.is_file()
                },
                age: meta
                    .modified()
                    .ok()
                    .and_then(|m| now.duration_since(m).ok())
                    .unwrap_or_default(),
            };
            if is_stale(found) {
                let _ = if pattern.dir {
                    fs::remove_dir_all(entry.path())
                } else {
                    fs::remove_file(entry.path())
                };
            }
        }
    }
}

/// The artifacts that exist now, and how many commands sealbox is waiting for.
struct Registry {
    next: u64,
    live: BTreeMap<u64, (PathBuf, bool)>,
    children: usize,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 0,
    live: BTreeMap::new(),
    children: 0,
});

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts (once) the thread that handles SIGTERM, SIGINT and SIGHUP.
fn watch() -> io::Result<()> {
    static WATCHER: OnceLock<Result<(), String>> = OnceLock::new();
    WATCHER
        .get_or_init(|| {
            // A signal ignored when sealbox started (`nohup`, a background job of a script)
            // stays ignored, as the shell that set it up expects.
            let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
            let watched = [SIGTERM, SIGINT, SIGHUP].map(|s| (!ignored(&status, s)).then_some(s));
            let mut signals =
                Signals::new(watched.into_iter().flatten()).map_err(|e| e.to_string())?;
            std::thread::spawn(move || {
                for signal in signals.forever() {
                    // The lock is kept until the process ends, so nothing is created after
                    // the removal below.
                    let registry = registry();
                    if signal == SIGINT && registry.children > 0 {
                        continue;
                    }
                    for (path, dir) in registry.live.values() {
                        let _ = if *dir {
                            fs::remove_dir_all(path)
                        } else {
                            fs::remove_file(path)
                        };
                    }
                    std::process::exit(128 + signal);
                }
            });
            Ok(())
        })
        .clone()
        .map_err(|e| io::Error::other(format!("cannot watch for termination signals: {e}")))
}

/// Whether `signal` is ignored, by the `SigIgn` mask of `/proc/<pid>/status` text.
fn ignored(status: &str, signal: i32) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| (1..=64).contains(&signal) && mask & (1 << (signal - 1)) != 0)
}

/// An artifact the signal handler removes; dropping this forgets it (its owner has removed
/// or renamed it by then).
struct Registered(u64);

impl Drop for Registered {
    fn drop(&mut self) {
        registry().live.remove(&self.0);
    }
}

/// Creates an artifact with `create` and registers it, both under the registry's lock, so a
/// signal finds every artifact that exists.
fn register<T: AsRef<Path>>(
    dir: bool,
    create: impl FnOnce() -> io::Result<T>,
) -> io::Result<(T, Registered)> {
    watch()?;
    let mut registry = registry();
    let artifact = create()?;
    let id = registry.next;
    registry.next += 1;
    registry
        .live
        .insert(id, (artifact.as_ref().to_owned(), dir));
    Ok((artifact, Registered(id)))
}

/// A temp file for an atomic write: removed when dropped, unless persisted.
pub struct TempFile {
    // Dropped first: the file is removed before it is forgotten.
    file: tempfile::NamedTempFile,
    _registered: Registered,
}

/// A new, empty 0600 temp file in `dir`, after removing the stale ones of dead sealbox runs
/// there.
pub fn temp_file_in(dir: &Path) -> io::Result<TempFile> {
    sweep(dir, std::slice::from_ref(&TEMP_FILE));
    let prefix = format!("{}{}-", TEMP_FILE.prefix, std::process::id());
    let (file, registered) = register(false, || {
        tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(TEMP_FILE.suffix)
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)
    })?;
    Ok(TempFile {
        file,
        _registered: registered,
    })
}

impl TempFile {
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    pub fn as_file_mut(&mut self) -> &mut fs::File {
        self.file.as_file_mut()
    }

    /// Renames the temp file over `target`.
    pub fn persist(self, target: &Path) -> io::Result<()> {
        self.file.persist(target).map(drop).map_err(|e| e.error)
    }
}

/// A 0700 directory for plaintext that a command must see as a file; removed (with what is
/// in it) when dropped.
pub struct PrivateDir {
    dir: tempfile::TempDir,
    _registered: Registered,
}

impl PrivateDir {
    /// `purpose` is `edit` or `exec`: it names the directory (`sealbox-<purpose>-…`).
    pub fn new(purpose: &str) -> anyhow::Result<PrivateDir> {
        let tmp = std::env::temp_dir();
        sweep(&tmp, &PRIVATE_DIRS);
        let prefix = format!("sealbox-{purpose}-{}-", std::process::id());
        debug_assert!(PRIVATE_DIRS.iter().any(|p| prefix.starts_with(p.prefix)));
        let (dir, registered) = register(true, || {
            tempfile::Builder::new()
                .prefix(&prefix)
                .permissions(fs::Permissions::from_mode(0o700))
                .tempdir_in(&tmp)
        })
        .with_context(|| {
            format!(
                "cannot create a private temporary directory in {}",
                tmp.display()
            )
        })?;
        Ok(PrivateDir {
            dir,
            _registered: registered,
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs `run`, which waits for a command in the foreground. Ctrl-C reaches that command too
/// (it shares the terminal), so SIGINT is left to it meanwhile: an editor handles it itself,
/// and a command it ends hands its status back to sealbox. SIGTERM and SIGHUP still end
/// sealbox.
pub fn foreground_child<T>(run: impl FnOnce() -> T) -> T {
    struct Waiting;
    impl Drop for Waiting {
        fn drop(&mut self) {
            registry().children -= 1;
        }
    }
    registry().children += 1;
    let _waiting = Waiting;
    run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_names_carry_their_owner() {
        assert_eq!(owner(".sealbox-4242-aB3xYz.tmp", &TEMP_FILE), Some(4242));
        assert_eq!(owner("sealbox-edit-7-q1w2e3", &PRIVATE_DIRS[0]), Some(7));
        assert_eq!(owner("sealbox-exec-7-q1w2e3", &PRIVATE_DIRS[1]), Some(7));
    }

    #[test]
    fn other_names_are_not_ours() {
        for name in [
            // The names sealbox used before the owner was in them: whose they are is unknown.
            ".sealbox-aB3xYz",
            ".sealbox-4242-aB3xYz",
            ".sealbox--aB3xYz.tmp",
            ".sealbox-4242-.tmp",
            ".sealbox-0-aB3xYz.tmp",
            ".sealbox-+42-aB3xYz.tmp",
            ".sealbox-42x-aB3xYz.tmp",
            ".sealbox-99999999999-aB3xYz.tmp",
            ".sealbox-42-a/b.tmp",
            ".sealbox-42-a.b.tmp",
            "sealbox-4242-aB3xYz.tmp",
            "x.sealbox-4242-aB3xYz.tmp",
            "app.yaml",
        ] {
            assert_eq!(owner(name, &TEMP_FILE), None, "{name}");
        }
        assert_eq!(owner("sealbox-edit-7-q1w2e3", &TEMP_FILE), None);
        assert_eq!(owner(".sealbox-7-q1w2e3.tmp", &PRIVATE_DIRS[0]), None);
    }

    #[test]
    fn only_an_old_leftover_of_a_dead_owner_of_ours_is_stale() {
        let stale = Leftover {
            owner_alive: false,
            ours: true,
            right_kind: true,
            age: STALE_AFTER,
        };
        assert!(is_stale(stale));
        assert!(is_stale(Leftover {
            age: Duration::from_secs(3600),
            ..stale
        }));
        for kept in [
            Leftover {
                owner_alive: true,
                ..stale
            },
            Leftover {
                ours: false,
                ..stale
            },
            Leftover {
                right_kind: false,
                ..stale
            },
            Leftover {
                age: STALE_AFTER - Duration::from_millis(1),
                ..stale
            },
        ] {
            assert!(!is_stale(kept));
        }
    }

    #[test]
    fn signals_ignored_on_entry_are_read_from_the_mask() {
        let status = "Name:\tsealbox\nSigBlk:\t0000000000000002\nSigIgn:\t0000000000004001\n";
        assert!(ignored(status, SIGHUP));
        assert!(ignored(status, SIGTERM));
        assert!(!ignored(status, SIGINT));
        assert!(!ignored("SigIgn:\t0000000000000000\n", SIGHUP));
        assert!(!ignored("", SIGHUP));
    }

    #[test]
    fn this_process_is_alive() {
        assert!(alive(std::process::id()));
        // Not a process ID at all: never treated as a dead owner.
        assert!(alive(u32::MAX));
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!alive(pid));
    }

    #[test]
    fn a_failed_rename_removes_the_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let busy = dir.path().join("busy");
        fs::create_dir(&busy).unwrap();
        fs::write(busy.join("x"), "").unwrap();
        let mut tmp = temp_file_in(dir.path()).unwrap();
        let path = tmp.path().to_owned();
        std::io::Write::write_all(tmp.as_file_mut(), b"plaintext").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(tmp.persist(&busy).is_err());
        assert!(!path.exists());
        assert!(registry().live.is_empty());
    }

    #[test]
    fn a_sweep_removes_only_stale_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        let touch = |name: &str, when: SystemTime| {
            let path = dir.path().join(name);
            fs::write(&path, "plaintext").unwrap();
            fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        };
        let gone = format!(".sealbox-{dead}-aaaaaa.tmp");
        let fresh = format!(".sealbox-{dead}-bbbbbb.tmp");
        let mine = format!(".sealbox-{}-cccccc.tmp", std::process::id());
        touch(&gone, old);
        touch(&fresh, SystemTime::now());
        touch(&mine, old);
        touch("app.yaml", old);
        fs::create_dir(dir.path().join(format!(".sealbox-{dead}-dddddd.tmp"))).unwrap();
        sweep(dir.path(), std::slice::from_ref(&TEMP_FILE));
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut expected = vec![
            format!(".sealbox-{dead}-dddddd.tmp"),
            fresh,
            mine,
            "app.yaml".to_owned(),
        ];
        expected.sort();
        assert_eq!(left, expected);
    }
}
