//! Where age identities come from (spec `sops.md` §8): every source is read and merged.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use sealbox_crypto::sops::keys;

use crate::io;

/// age identities from every source sops reads, merged (spec §8), with the places looked at.
pub fn age_identities() -> Result<(Vec<age::x25519::Identity>, Vec<String>)> {
    let mut identities = Vec::new();
    let mut sources = Vec::new();
    if let Some(inline) = std::env::var_os("SOPS_AGE_KEY") {
        sources.push("SOPS_AGE_KEY".to_owned());
        identities
            .extend(keys::parse_identities(&inline.to_string_lossy()).context("SOPS_AGE_KEY")?);
    }
    if let Some(file) = std::env::var_os("SOPS_AGE_KEY_FILE") {
        let file = PathBuf::from(file);
        sources.push(format!("SOPS_AGE_KEY_FILE={}", file.display()));
        let text = io::read_text(Some(&file), "SOPS_AGE_KEY_FILE")?;
        identities
            .extend(keys::parse_identities(&text).with_context(|| file.display().to_string())?);
    }
    if let Some(cmd) = std::env::var_os("SOPS_AGE_KEY_CMD") {
        let cmd = cmd.to_string_lossy().into_owned();
        sources.push(format!("SOPS_AGE_KEY_CMD={cmd}"));
        let mut words = cmd.split_whitespace();
        let program = words.next().context("SOPS_AGE_KEY_CMD is empty")?;
        let output = std::process::Command::new(program)
            .args(words)
            .output()
            .with_context(|| format!("cannot run SOPS_AGE_KEY_CMD {cmd:?}"))?;
        if !output.status.success() {
            bail!("SOPS_AGE_KEY_CMD {cmd:?} failed ({})", output.status);
        }
        let text = zeroize::Zeroizing::new(String::from_utf8_lossy(&output.stdout).into_owned());
        identities.extend(keys::parse_identities(&text).context("SOPS_AGE_KEY_CMD output")?);
    }
    if let Some(default) = default_key_file() {
        sources.push(default.display().to_string());
        if default.exists() {
            let text = io::read_text(Some(&default), "keys.txt")?;
            identities.extend(
                keys::parse_identities(&text).with_context(|| default.display().to_string())?,
            );
        }
    }
    Ok((identities, sources))
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
