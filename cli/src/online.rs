//! Online operations on SealedSecrets through the running controller (spec `sealed-secrets.md`
//! §4.6): validate (`/v1/verify`) and re-encrypt with the newest key (`/v1/rotate`).

use anyhow::{Context, Result, bail};
use sealbox_crypto::sealed::SealedSecret;
use sealbox_crypto::sealed::manifest::{Format, object_ref, render};

use crate::args::{FormatArg, SealArgs};
use crate::controller::ControllerArgs;
use crate::io::{self, Readers};
use crate::unseal::read_sealed;

/// Asks the controller whether every item of `sealed` opens.
pub fn verify(controller: &ControllerArgs, sealed: &SealedSecret) -> Result<()> {
    let name = object_ref(&sealed.metadata);
    let reply = controller.post("/v1/verify", &serde_json::to_string(sealed)?)?;
    match reply.status {
        200 => Ok(()),
        409 => bail!(
            "unable to decrypt sealed secret: {name}: {}",
            reply.body.trim()
        ),
        other => bail!(
            "cannot validate sealed secret {name}: HTTP {other}: {}",
            reply.body.trim()
        ),
    }
}

/// The same SealedSecret re-encrypted by the controller with its newest key.
pub fn reencrypt(controller: &ControllerArgs, sealed: &SealedSecret) -> Result<SealedSecret> {
    let name = object_ref(&sealed.metadata);
    let reply = controller.post("/v1/rotate", &serde_json::to_string(sealed)?)?;
    if reply.status != 200 {
        bail!(
            "cannot re-encrypt sealed secret {name}: HTTP {}: {}",
            reply.status,
            reply.body.trim()
        );
    }
    serde_json::from_str(&reply.body)
        .with_context(|| format!("the controller sent back a malformed SealedSecret for {name}"))
}

/// kubeseal's `--validate` / `--re-encrypt`: every SealedSecret of the input; re-encrypted
/// ones are printed, or written back in place when only `-f` is given (upstream #405).
pub fn validate_or_reencrypt(args: &SealArgs, re_encrypt: bool) -> Result<()> {
    let input = args.secret_file.as_deref();
    let docs = read_sealed(input, args.namespace.as_deref())?;
    if !re_encrypt {
        return docs
            .iter()
            .try_for_each(|ss| verify(&args.controller, ss))
            .context("--validate asks the running controller; offline: `sealbox validate --recovery-private-key KEY`");
    }
    let format = match args.format {
        Some(FormatArg::Yaml) => Format::Yaml,
        _ => Format::Json,
    };
    let mut out = String::new();
    for ss in &docs {
        let rotated = reencrypt(&args.controller, ss).context(
            "--re-encrypt asks the running controller; offline: `sealbox kubeseal --recovery-unseal --recovery-private-key OLD.key | sealbox kubeseal --cert NEW.pem`",
        )?;
        out.push_str(&render(&rotated, format)?);
    }
    let target = args.sealed_secret_file.as_deref().or(input);
    io::write_output(target, out.as_bytes(), Readers::Anyone)
}
