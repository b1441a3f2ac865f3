//! Reading inputs (file or stdin) and writing outputs atomically, so a failed run never leaves
//! a half-written or truncated file behind.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

use crate::cleanup;

/// The whole input as UTF-8 text, from `path` or stdin. `flag` names the option in errors.
/// Inputs may hold plaintext or keys, so they are wiped from memory when dropped.
pub fn read_text(path: Option<&Path>, flag: &str) -> Result<Zeroizing<String>> {
    let mut bytes = read_bytes(path, flag)?;
    // Moved, not copied; on error the bytes are wiped all the same.
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            match path {
                Some(p) => bail!("{}: input is not UTF-8 text", p.display()),
                None => bail!("stdin: input is not UTF-8 text"),
            }
        }
    }
}

pub fn read_bytes(path: Option<&Path>, flag: &str) -> Result<Zeroizing<Vec<u8>>> {
    let bytes = match path {
        Some(p) => fs::read(p).with_context(|| {
            format!(
                "Could not read file specified with {flag} ({})",
                p.display()
            )
        })?,
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("could not read stdin")?;
            buf
        }
    };
    Ok(Zeroizing::new(bytes))
}

/// The entries of directory `path` in name order, `.git` left out: how every command that
/// walks a tree sees a directory.
pub fn dir_entries(path: &Path) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = fs::read_dir(path)
        .with_context(|| format!("cannot list {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().is_none_or(|n| n != ".git"))
        .collect();
    entries.sort();
    Ok(entries)
}

/// The files named by `paths`, directories searched recursively in name order (`.git`
/// skipped).
pub fn files_under(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        if path.is_dir() {
            for entry in dir_entries(path)? {
                collect(&entry, out)?;
            }
        } else if path.exists() {
            out.push(path.to_owned());
        }
        Ok(())
    }
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    Ok(files)
}

/// Who may read an output file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    /// Ciphertext: an existing file keeps its mode, a new one is 0644.
    Anyone,
    /// Plaintext: always 0600, whatever the file it replaces allowed.
    Owner,
}

/// Writes `contents` to `path` (or stdout when `None`). A file is replaced atomically: a temp
/// file beside it (`cleanup::temp_file_in`: 0600 from the start, removed on any error or
/// signal) is written, fsynced and renamed over it.
pub fn write_output(path: Option<&Path>, contents: &[u8], readers: Readers) -> Result<()> {
    let Some(path) = path else {
        let mut out = std::io::stdout().lock();
        out.write_all(contents)
            .context("could not write to stdout")?;
        return out.flush().context("could not write to stdout");
    };
    // A link is followed, so the file it points at is replaced and the link stays.
    let resolved;
    let path = if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        resolved = fs::canonicalize(path)
            .with_context(|| format!("cannot follow the link {}", path.display()))?;
        resolved.as_path()
    } else {
        path
    };
    // Devices and pipes (`/dev/stdout`, a FIFO) cannot be replaced: write through them.
    if fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        let mut target = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        return target
            .write_all(contents)
            .with_context(|| format!("cannot write {}", path.display()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mode = match readers {
        Readers::Owner => 0o600,
        Readers::Anyone => fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777),
    };
    let mut tmp = cleanup::temp_file_in(dir)
        .with_context(|| {
            format!(
                "cannot write {}: the directory {} does not let sealbox create a file (it writes a new file beside the target and renames it into place, so nothing is ever half-written); make the directory writable, or write elsewhere with --output/-w",
                path.display(),
                dir.display()
            )
        })?;
    // An error drops `tmp`, which removes it; a signal removes it too (see `cleanup`).
    tmp.as_file_mut()
        .write_all(contents)
        .and_then(|()| tmp.as_file_mut().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set permissions for {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}
