//! A private directory for plaintext that a command must see as a file (`edit`,
//! `exec-file`): mode 0700, removed when dropped and also when SIGTERM or SIGHUP ends
//! sealbox. SIGINT is left alone, so Ctrl-C inside an editor does not end the session.

use std::path::Path;
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use signal_hook::consts::{SIGHUP, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

pub struct PrivateDir {
    dir: tempfile::TempDir,
    signals: Handle,
    watcher: Option<JoinHandle<()>>,
}

impl PrivateDir {
    pub fn new(prefix: &str) -> Result<PrivateDir> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .context("cannot create a private temporary directory")?;
        let mut signals =
            Signals::new([SIGTERM, SIGHUP]).context("cannot watch for termination signals")?;
        let handle = signals.handle();
        let path = dir.path().to_owned();
        let watcher = std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let _ = std::fs::remove_dir_all(&path);
                std::process::exit(128 + signal);
            }
        });
        Ok(PrivateDir {
            dir,
            signals: handle,
            watcher: Some(watcher),
        })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        self.signals.close();
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
    }
}
