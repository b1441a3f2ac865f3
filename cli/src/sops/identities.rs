//! Where age identities come from (spec `sops.md` §8): every source is read and merged.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sealbox_crypto::sops::keys::{self, Identity};
use sealbox_crypto::sops::ssh;

use crate::io;

/// age identities from every source sops reads, merged (spec `sops.md` §8). A source that fails (a
/// missing file, a failing command, a line that is no age identity) does not stop the others;
/// its problem is returned with the places looked at, for the message if no key opens the file.
pub fn age_identities() -> (Vec<Identity>, Vec<String>) {
    let mut identities = Vec::new();
    let mut notes = Vec::new();
    ssh_identities(&mut identities, &mut notes);
    let mut add = |source: String, text: Result<zeroize::Zeroizing<String>>| match text
        .and_then(|t| Ok(keys::parse_identities(&t)?))
    {
        Ok(found) => {
            notes.push(format!("{source} ({} identities)", found.len()));
            identities.extend(found);
        }
        Err(e) => notes.push(format!("{source} ({e:#})")),
    };
    if let Some(inline) = std::env::var_os("SOPS_AGE_KEY") {
        add(
            "SOPS_AGE_KEY".into(),
            Ok(zeroize::Zeroizing::new(
                inline.to_string_lossy().into_owned(),
            )),
        );
    }
    if let Some(file) = std::env::var_os("SOPS_AGE_KEY_FILE") {
        let file = PathBuf::from(file);
        add(
            format!("SOPS_AGE_KEY_FILE={}", file.display()),
            io::read_text(Some(&file), "SOPS_AGE_KEY_FILE"),
        );
    }
    if let Some(cmd) = std::env::var_os("SOPS_AGE_KEY_CMD") {
        let cmd = cmd.to_string_lossy().into_owned();
        add(format!("SOPS_AGE_KEY_CMD={cmd}"), run_key_command(&cmd));
    }
    if let Some(default) = default_key_file() {
        if default.exists() {
            add(
                default.display().to_string(),
                io::read_text(Some(&default), "keys.txt"),
            );
        } else {
            notes.push(format!("{} (not found)", default.display()));
        }
    }
    (identities, notes)
}

/// SSH keys (Ed25519 or RSA): `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, else `~/.ssh/id_ed25519` and
/// `~/.ssh/id_rsa`, those that exist (sops `age/keysource.go`).
fn ssh_identities(identities: &mut Vec<Identity>, notes: &mut Vec<String>) {
    let files: Vec<(PathBuf, bool)> = match std::env::var_os("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
        Some(f) => vec![(PathBuf::from(f), true)],
        None => match std::env::var_os("HOME") {
            Some(h) => ["id_ed25519", "id_rsa"]
                .iter()
                .map(|name| (PathBuf::from(&h).join(".ssh").join(name), false))
                .collect(),
            None => return,
        },
    };
    for (file, required) in files {
        if !required && !file.exists() {
            continue;
        }
        let parsed = io::read_text(Some(&file), "SOPS_AGE_SSH_PRIVATE_KEY_FILE")
            .and_then(|text| Ok(ssh::parse_identity(&text)?));
        match parsed {
            Ok(identity) => {
                notes.push(format!("{} (SSH key)", file.display()));
                identities.push(identity.into());
            }
            Err(e) => notes.push(format!("{} ({e:#})", file.display())),
        }
    }
}

/// Runs `SOPS_AGE_KEY_CMD` (split on whitespace, no shell) and returns what it printed.
fn run_key_command(cmd: &str) -> Result<zeroize::Zeroizing<String>> {
    let mut words = cmd.split_whitespace();
    let program = words.next().context("the command is empty")?;
    let output = std::process::Command::new(program)
        .args(words)
        .output()
        .with_context(|| format!("cannot run {program:?}"))?;
    if !output.status.success() {
        bail!("it failed ({})", output.status);
    }
    Ok(zeroize::Zeroizing::new(
        String::from_utf8_lossy(&output.stdout).into_owned(),
    ))
}

/// `$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`.
fn default_key_file() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CONFIG_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".config")))
        .map(|c| c.join("sops/age/keys.txt"))
}
