//! `exec-env` and `exec-file`: hand decrypted values to a command without writing them where
//! others can read them.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use sealbox_crypto::sops::{Entry, Format, OpenFile, Scalar, Value};

use super::files;
use super::flags::TypeArg;
use crate::cleanup::{self, PrivateDir};
use crate::exit::{ERROR_GENERIC, Exit};
use crate::io::{self, Readers};

#[derive(Args)]
pub struct ExecEnvArgs {
    /// The SOPS file whose values become environment variables.
    file: PathBuf,
    /// Run through /bin/sh -c.
    command: String,
    /// Give the command only the file's values, no other environment.
    #[arg(long)]
    pristine: bool,
    /// Read the file as this format instead of the one its name picks.
    #[arg(long = "input-type", value_enum)]
    input_type: Option<TypeArg>,
}

#[derive(Args)]
pub struct ExecFileArgs {
    /// The SOPS file to hand over decrypted.
    file: PathBuf,
    /// Run through /bin/sh -c, with {} replaced by the plaintext file's path.
    command: String,
    /// Write the plaintext to a 0600 file (in a private directory, removed afterwards) instead
    /// of handing it over through a FIFO, for commands that need to seek or read it twice.
    #[arg(long = "no-fifo")]
    no_fifo: bool,
    /// The plaintext file's name inside the private directory.
    #[arg(long)]
    filename: Option<String>,
    /// Read the file as this format instead of the one its name picks.
    #[arg(long = "input-type", value_enum)]
    input_type: Option<TypeArg>,
    /// Write the plaintext in this format instead of the input's.
    #[arg(long = "output-type", value_enum)]
    output_type: Option<TypeArg>,
}

fn open(file: &std::path::Path, input_type: Option<TypeArg>) -> Result<OpenFile> {
    let format = input_type.map_or_else(|| Format::from_path(&file.to_string_lossy()), Into::into);
    let text = io::read_text(Some(file), "FILE")?;
    files::open(&text, format, &file.display().to_string(), false)
}

pub fn exec_env(args: &ExecEnvArgs) -> Result<()> {
    let file = open(&args.file, args.input_type)?;
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c").arg(&args.command);
    if args.pristine {
        cmd.env_clear();
    }
    for entry in file.branches.first().into_iter().flatten() {
        let Entry::Pair(key, value) = entry else {
            continue;
        };
        let Value::Scalar(scalar) = value else {
            bail!(
                "{key}: only top-level values can go into the environment, not mappings or lists"
            );
        };
        let text = match scalar {
            Scalar::Bool(b) => b.to_string().into_bytes(),
            other => other.to_bytes(),
        };
        cmd.env(key, String::from_utf8_lossy(&text).as_ref());
    }
    finish(cmd.status().context("cannot run /bin/sh")?)
}

/// Runs the command with `{}` replaced by a path in a private directory. By default that path
/// is a FIFO, as in sops, so the plaintext never lands on disk.
pub fn exec_file(args: &ExecFileArgs) -> Result<()> {
    let name = args.filename.as_deref().unwrap_or("tmp-file");
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(Exit::new(
            ERROR_GENERIC,
            format!("--filename {name:?} must be a plain file name"),
        )
        .into());
    }
    let file = open(&args.file, args.input_type)?;
    let format = args.output_type.map_or(file.format, Into::into);
    let plain = zeroize::Zeroizing::new(file.plain(format)?);
    let dir = PrivateDir::new("exec")?;
    let path = dir.path().join(name);
    let command = args.command.replace("{}", &path.to_string_lossy());
    let run = || {
        let mut shell = std::process::Command::new("/bin/sh");
        shell.arg("-c").arg(&command);
        cleanup::foreground_child(|| shell.status()).context("cannot run /bin/sh")
    };
    let status = if args.no_fifo {
        io::write_output(Some(&path), &plain, Readers::Owner)?;
        run()
    } else {
        through_fifo(&path, &plain, run)
    };
    drop(dir);
    finish(status?)
}

/// Serves `plain` through a FIFO at `path` while `run` runs.
fn through_fifo(
    path: &std::path::Path,
    plain: &[u8],
    run: impl FnOnce() -> Result<std::process::ExitStatus>,
) -> Result<std::process::ExitStatus> {
    use rustix::fs::{CWD, Mode, OFlags, mkfifoat};
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;

    mkfifoat(CWD, path, Mode::RUSR | Mode::WUSR)
        .with_context(|| format!("cannot create a FIFO at {}", path.display()))?;
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            // Opening blocks until the command opens the FIFO for reading.
            std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|mut fifo| fifo.write_all(plain))
        });
        let status = run();
        if !writer.is_finished() {
            // The command did not read it all (or the writer has not even opened the FIFO
            // yet): a reader of our own releases the writer. It stays open and is drained until
            // the writer is done, so a writer that opens after it, or a plaintext larger than
            // the pipe's buffer, cannot leave the writer blocked for ever.
            if let Ok(mut reader) = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(OFlags::NONBLOCK.bits() as i32)
                .open(path)
            {
                let mut sink = zeroize::Zeroizing::new(vec![0u8; 64 * 1024]);
                while !writer.is_finished() {
                    if !matches!(reader.read(&mut sink), Ok(n) if n > 0) {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                }
            }
        }
        let _ = writer.join();
        status
    })
}

/// The command's failure is sealbox's, with the same exit status and nothing more to say.
fn finish(status: std::process::ExitStatus) -> Result<()> {
    if status.success() {
        return Ok(());
    }
    let code = status
        .code()
        .map_or(ERROR_GENERIC, |c| c.clamp(1, 255) as u8);
    Err(Exit::new(code, "").into())
}
