//! The local key store: controller-shaped key pairs in the user's config directory, so sealing
//! and unsealing work with no cluster. Layout: `<dir>/keys/<unix-seconds>.key` (PKCS#1 PEM,
//! mode 0600) and `<unix-seconds>.crt` beside it; the newest seals, all of them unseal.
//! `<dir>` is `$SEALBOX_HOME`, else `$XDG_CONFIG_HOME/sealbox`, else `~/.config/sealbox`.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use sealbox_crypto::sealed::{
    Certificate, DEFAULT_VALIDITY, KeyPair, PrivateKey, private_keys_from_pem,
};

/// The controller's default key size.
const KEY_BITS: usize = 4096;

pub fn dir() -> Result<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(home) = env("SEALBOX_HOME") {
        return Ok(home);
    }
    if let Some(config) = env("XDG_CONFIG_HOME") {
        return Ok(config.join("sealbox"));
    }
    match env("HOME") {
        Some(home) => Ok(home.join(".config").join("sealbox")),
        None => bail!("cannot locate the key store: set SEALBOX_HOME or HOME"),
    }
}

fn keys_dir() -> Result<PathBuf> {
    Ok(dir()?.join("keys"))
}

/// Key ids (unix seconds of creation), oldest first.
fn ids() -> Result<Vec<u64>> {
    let dir = keys_dir()?;
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    let mut ids: Vec<u64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".crt")?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

pub fn init() -> Result<()> {
    if let Some(&id) = ids()?.last() {
        let cert = read_cert(id)?;
        println!(
            "key store already initialised: {} (newest key {})",
            keys_dir()?.display(),
            cert.public_key.fingerprint()
        );
        return Ok(());
    }
    create()
}

pub fn renew() -> Result<()> {
    create()
}

fn create() -> Result<()> {
    let dir = keys_dir()?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let now = SystemTime::now();
    let mut id = now.duration_since(UNIX_EPOCH)?.as_secs();
    while ids()?.contains(&id) {
        id += 1;
    }
    eprintln!("generating an RSA-{KEY_BITS} key pair…");
    let pair = KeyPair::generate(KEY_BITS, now, DEFAULT_VALIDITY, "")?;
    // A key counts once its certificate exists, so the certificate is written last and a
    // failure removes the key again.
    let key_path = dir.join(format!("{id}.key"));
    write_new(&key_path, pair.key_pem().as_bytes(), 0o600)?;
    let cert_pem = pair.certificate.to_pem();
    if let Err(e) = write_new(&dir.join(format!("{id}.crt")), cert_pem.as_bytes(), 0o644) {
        let _ = fs::remove_file(&key_path);
        return Err(e);
    }
    println!(
        "created key {} in {}\nshare the certificate with `sealbox keys export-cert`",
        pair.private_key.fingerprint(),
        dir.display()
    );
    Ok(())
}

/// Creates a file that must not exist yet, with its final mode from the first byte on.
fn write_new(path: &std::path::Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn read_cert(id: u64) -> Result<Certificate> {
    let path = keys_dir()?.join(format!("{id}.crt"));
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Certificate::from_pem(&text).with_context(|| format!("{}", path.display()))
}

/// The newest certificate, with its PEM text; `None` when the store is empty.
pub fn newest_certificate() -> Result<Option<(Certificate, String)>> {
    let Some(&id) = ids()?.last() else {
        return Ok(None);
    };
    let cert = read_cert(id)?;
    let pem = cert.to_pem();
    Ok(Some((cert, pem)))
}

/// Every private key, newest first (the order in which to try them).
pub fn private_keys() -> Result<Vec<PrivateKey>> {
    let mut keys = Vec::new();
    for id in ids()?.into_iter().rev() {
        let path = keys_dir()?.join(format!("{id}.key"));
        let text =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        keys.extend(private_keys_from_pem(&text).with_context(|| format!("{}", path.display()))?);
    }
    Ok(keys)
}

pub fn export_cert() -> Result<()> {
    match newest_certificate()? {
        Some((_, pem)) => {
            print!("{pem}");
            Ok(())
        }
        None => bail!(
            "the key store at {} is empty: run `sealbox keys init` first",
            keys_dir()?.display()
        ),
    }
}
