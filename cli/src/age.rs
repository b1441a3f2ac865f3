//! `sealbox age keygen` and `sealbox age recipient`: age keys for SOPS files without another
//! tool. `keygen` writes what Go's `age-keygen` writes (same three lines, a new file only, mode
//! 0600, the public key on stderr); `recipient` prints the recipients of identity files, as
//! `age-keygen -y` does.
//!
//! ```text
//! sealbox age keygen -o ~/.config/sops/age/keys.txt     # "Public key: age1…" on stderr
//! sealbox age recipient -i ~/.config/sops/age/keys.txt  # age1…
//! ```

use std::io::{IsTerminal as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use ::age::secrecy::ExposeSecret as _;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use sealbox_crypto::sops::keys::{self, Identity};
use zeroize::Zeroizing;

use crate::io;

#[derive(Subcommand)]
pub enum AgeCommand {
    /// Generate an age X25519 identity in age-keygen's format (to stdout, or a new 0600 file
    /// with -o); the public key goes to stderr too.
    Keygen(KeygenArgs),
    /// Print the recipient (public key) of every identity in identity files or stdin, as
    /// `age-keygen -y` does.
    Recipient(RecipientArgs),
}

#[derive(Args)]
pub struct KeygenArgs {
    /// Write the identity to this new file (mode 0600; an existing file is never overwritten).
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub struct RecipientArgs {
    /// Identity files to read (repeatable); default: stdin.
    #[arg(short = 'i', long = "identity", value_name = "FILE")]
    identity: Vec<PathBuf>,
}

pub fn run(command: &AgeCommand) -> Result<()> {
    match command {
        AgeCommand::Keygen(args) => keygen(args),
        AgeCommand::Recipient(args) => recipient(args),
    }
}

fn keygen(args: &KeygenArgs) -> Result<()> {
    let identity = ::age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let created = sealbox_crypto::sops::mac::format_lastmodified(std::time::SystemTime::now())?;
    let text = key_file(&created, &public, identity.to_string().expose_secret());
    let to_terminal = match &args.output {
        Some(path) => {
            write_new(path, text.as_bytes())?;
            false
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .context("could not write to stdout")?;
            out.is_terminal()
        }
    };
    // As age-keygen: the public key on stderr unless the key itself went to a terminal.
    if !to_terminal {
        eprintln!("Public key: {public}");
    }
    Ok(())
}

/// age-keygen's output: when, the public key, the secret key.
fn key_file(created: &str, public: &str, secret: &str) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "# created: {created}\n# public key: {public}\n{secret}\n"
    ))
}

/// Creates `path` with mode 0600, failing if anything is there (as age-keygen's O_EXCL).
fn write_new(path: &Path, contents: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{} already exists: sealbox never overwrites a key file (it may hold the only copy of a key); choose another name or remove it first",
                path.display()
            ),
            _ => anyhow::Error::new(e).context(format!("cannot create {}", path.display())),
        })?;
    if let Err(e) = file.write_all(contents).and_then(|()| file.sync_all()) {
        // A partial key file is worse than none.
        let _ = std::fs::remove_file(path);
        return Err(anyhow::Error::new(e).context(format!("cannot write {}", path.display())));
    }
    Ok(())
}

fn recipient(args: &RecipientArgs) -> Result<()> {
    let sources: Vec<Option<&Path>> = if args.identity.is_empty() {
        vec![None]
    } else {
        args.identity.iter().map(|p| Some(p.as_path())).collect()
    };
    let mut lines = String::new();
    for source in sources {
        let name = source.map_or("stdin".to_owned(), |p| p.display().to_string());
        let text = io::read_text(source, "-i/--identity")?;
        for recipient in recipients(&text).with_context(|| name.clone())? {
            lines.push_str(&recipient);
            lines.push('\n');
        }
    }
    print!("{lines}");
    Ok(())
}

/// The recipient of every identity in an identity file's text (X25519 and post-quantum).
fn recipients(text: &str) -> Result<Vec<String>> {
    let identities = keys::parse_identities(text)?;
    if identities.is_empty() {
        bail!("no age identity found (expected AGE-SECRET-KEY-1… lines)");
    }
    identities
        .iter()
        .map(|identity| match identity {
            Identity::X25519(i) => Ok(i.to_public().to_string()),
            Identity::Hybrid(i) => Ok(i.to_public().to_string()),
            Identity::SshEd25519(_) | Identity::SshRsa(_) => {
                bail!("an SSH key is not an age identity file")
            }
            Identity::Plugin(_) => {
                bail!("a plugin identity's recipient comes from its plugin (age-plugin-NAME -y)")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// age's own test vector (age `x25519.rs`).
    const SECRET: &str =
        "AGE-SECRET-KEY-1GQ9778VQXMMJVE8SK7J6VT8UJ4HDQAJUVSFCWCM02D8GEWQ72PVQ2Y5J33";
    const PUBLIC: &str = "age1t7rxyev2z3rw82stdlrrepyc39nvn86l5078zqkf5uasdy86jp6svpy7pa";

    #[test]
    fn a_key_file_has_age_keygens_three_lines() {
        let text = key_file("2024-05-01T12:00:00Z", PUBLIC, SECRET);
        assert_eq!(
            *text,
            format!("# created: 2024-05-01T12:00:00Z\n# public key: {PUBLIC}\n{SECRET}\n")
        );
        assert_eq!(recipients(&text).unwrap(), [PUBLIC]);
    }

    #[test]
    fn recipients_of_several_identities_come_in_order() {
        let generated = ::age::x25519::Identity::generate();
        let text = format!(
            "# comment\n\n{SECRET}\n{}\n",
            generated.to_string().expose_secret()
        );
        assert_eq!(
            recipients(&text).unwrap(),
            [PUBLIC.to_owned(), generated.to_public().to_string()]
        );
    }

    #[test]
    fn no_identity_or_a_bad_line_is_an_error_that_does_not_repeat_the_line() {
        let empty = recipients("# only a comment\n").unwrap_err();
        assert!(empty.to_string().contains("no age identity found"));
        let bad = recipients("AGE-SECRET-KEY-1NOTAKEY\n").unwrap_err();
        assert!(!format!("{bad:#}").contains("NOTAKEY"), "{bad:#}");
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.txt");
        std::fs::write(&path, "precious").unwrap();
        let err = write_new(&path, b"new").unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        let fresh = dir.path().join("new.txt");
        write_new(&fresh, b"key").unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
