//! Sealing (spec `sealed-secrets.md`): whole Secrets (kubeseal's `Seal`, §4.2–4.3), single
//! values (`--raw`, §1.5) and merging into an existing SealedSecret file (`--merge-into`,
//! §4.5).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use sealbox_crypto::sealed::manifest::{
    Format, MAX_SECRET_SIZE, object_ref, parse_objects, render, render_into, render_room,
    too_big_warning,
};
use sealbox_crypto::sealed::{
    PublicKey, Scope, SealedSecret, Secret, encode_base64, hybrid, seal_secret,
};

use crate::io::{self, Readers};
use crate::sealed::certsource;
use crate::sealed::controller::ControllerArgs;
use crate::sealed::input::{FormatArg, context_namespace, output_format, resolve_namespace};

/// Options for sealing, shared by `sealbox seal` and `sealbox kubeseal`.
#[derive(Args, Default)]
pub struct SealArgs {
    /// Certificate or public key to seal with: a file, or an http(s):// or file:// URL.
    /// Default: the newest certificate of the local key store.
    #[arg(long, env = "SEALED_SECRETS_CERT")]
    pub cert: Option<String>,
    /// Seal with the certificate of the running controller, fetched through the Kubernetes
    /// API server's service proxy (kubeconfig as kubectl's). In kubeseal mode: print it.
    #[arg(long = "fetch-cert")]
    pub fetch_cert: bool,
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// strict (bound to name and namespace), namespace-wide or cluster-wide. Default: the
    /// Secret's scope annotations, else strict; with --merge-into, the target file's scope
    /// (a different one is refused).
    #[arg(long, env = "SEALED_SECRETS_SCOPE")]
    pub scope: Option<Scope>,
    /// Output format (sealbox seal: yaml; kubeseal: json). A -w file ending in .yaml/.yml
    /// selects yaml.
    #[arg(
        short = 'o',
        long = "format",
        value_enum,
        ignore_case = true,
        env = "SEALED_SECRETS_FORMAT"
    )]
    pub format: Option<FormatArg>,
    /// Input file (default: stdin).
    #[arg(short = 'f', long = "secret-file")]
    pub secret_file: Option<PathBuf>,
    /// Output file, written atomically and only on success (default: stdout).
    #[arg(short = 'w', long = "sealed-secret-file")]
    pub sealed_secret_file: Option<PathBuf>,
    /// Name of the Secret: overrides the input's name; with --raw, the name bound by strict scope.
    #[arg(long)]
    pub name: Option<String>,
    /// Namespace; must match the input's when both are set. Default: the input's, else the
    /// kubeconfig context's, else "default".
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Seal one value (stdin or --from-file) and print only its base64 ciphertext.
    #[arg(long)]
    pub raw: bool,
    /// With --raw: the file to seal, as [key=]path.
    #[arg(long = "from-file")]
    pub from_file: Vec<String>,
    /// Seal the input Secret's items into this existing SealedSecret file, keeping its other
    /// items; its name, namespace and (unless --scope is given) scope are used.
    #[arg(long = "merge-into")]
    pub merge_into: Option<PathBuf>,
    /// Accept a Secret with no data or stringData.
    #[arg(long = "allow-empty-data")]
    pub allow_empty_data: bool,
}

/// Whose behaviour to follow where `sealbox seal` and kubeseal differ.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// YAML out; without `--cert` or `--fetch-cert`, the local key store's certificate.
    Native,
    /// kubeseal's: JSON out; without `--cert`, the controller's certificate, always (spec
    /// `sealed-secrets.md` §4.4): kubeseal has no local key store.
    Kubeseal,
}

pub fn run(args: &SealArgs, mode: Mode) -> Result<()> {
    if args.raw {
        return raw(args, mode);
    }
    if !args.from_file.is_empty() {
        bail!("--from-file is only valid with --raw");
    }
    let key = public_key(args, mode)?;
    let secrets = read_secrets(args.secret_file.as_deref())?;
    if let Some(target) = &args.merge_into {
        return merge_into(args, target, secrets, &key);
    }
    let format = output_format(
        args.format,
        args.sealed_secret_file.as_deref(),
        match mode {
            Mode::Native => Format::Yaml,
            Mode::Kubeseal => Format::Json,
        },
    );
    let mut prepared = Vec::with_capacity(secrets.len());
    for (index, secret) in secrets.into_iter().enumerate() {
        let what = format!(
            "Secret {} (document {})",
            object_ref(&secret.metadata),
            index + 1
        );
        let secret = prepare(args, secret).context(what.clone())?;
        warn_if_too_big(&secret);
        prepared.push((secret, what));
    }
    let results = seal_all(&prepared, &key);
    // The plaintext is no longer needed; each SealedSecret goes once rendered.
    drop(prepared);
    // Reserved, so the output never grows by copying itself.
    let room = results.iter().flatten().map(render_room).sum();
    let mut out = String::with_capacity(room);
    for result in results {
        render_into(&mut out, &result?, format)?;
    }
    io::write_output(
        args.sealed_secret_file.as_deref(),
        out.as_bytes(),
        Readers::Anyone,
    )
}

/// Seals on every core: each item costs an RSA public operation, which dominates large
/// streams. Results come back in input order.
fn seal_all(secrets: &[(Secret, String)], key: &PublicKey) -> Vec<Result<SealedSecret>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = secrets.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = secrets
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|(secret, what)| seal_secret(secret, key).context(what.clone()))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("sealing thread panicked"))
            .collect()
    })
}

fn read_secrets(path: Option<&Path>) -> Result<Vec<Secret>> {
    let source = path.map_or("stdin".to_owned(), |p| p.display().to_string());
    let text = io::read_text(path, "--secret-file")?;
    let secrets: Vec<Secret> = parse_objects(&text, "Secret").with_context(|| source.clone())?;
    if secrets.is_empty() {
        bail!("{source}: no secrets found. Ensure the input is valid and UTF-8 encoded");
    }
    Ok(secrets)
}

/// Applies kubeseal's checks and overrides, in its order: empty data, `--name`, `--scope`,
/// namespace resolution.
fn prepare(args: &SealArgs, mut secret: Secret) -> Result<Secret> {
    check_not_empty(args, &secret)?;
    if let Some(name) = &args.name {
        secret.metadata.name = name.clone();
    }
    // `--scope strict` is the default, so like kubeseal it leaves existing annotations alone.
    if let Some(scope) = args.scope.filter(|s| *s != Scope::Strict) {
        scope.apply_to(&mut secret.metadata.annotations);
    }
    if Scope::from_annotations(&secret.metadata.annotations) != Scope::ClusterWide {
        secret.metadata.namespace = resolve_namespace(
            &secret.metadata.namespace,
            args.namespace.as_deref(),
            &args.controller.cluster,
        )?;
    }
    Ok(secret)
}

/// Kubernetes refuses a Secret over 1 MiB of data, so the SealedSecret would seal fine and
/// never unseal into the cluster: say so (the output is still written).
fn warn_if_too_big(secret: &Secret) {
    let size = secret.data_size();
    if size > MAX_SECRET_SIZE {
        eprintln!("{}", too_big_warning(&object_ref(&secret.metadata), size));
    }
}

fn check_not_empty(args: &SealArgs, secret: &Secret) -> Result<()> {
    if secret.data.is_empty() && secret.string_data.is_empty() && !args.allow_empty_data {
        bail!(
            "secret.data is empty in input Secret, assuming this is an error and aborting. To work with empty data, --allow-empty-data can be used"
        );
    }
    Ok(())
}

/// The key to seal with, from `--cert`, the controller, or (native mode only) the key store.
/// Native mode says which at a terminal, so nobody seals for the wrong cluster unawares.
fn public_key(args: &SealArgs, mode: Mode) -> Result<PublicKey> {
    let online = args.fetch_cert || mode == Mode::Kubeseal;
    let (key, origin) = certsource::load(args.cert.as_deref(), online.then_some(&args.controller))?;
    if mode == Mode::Native && std::io::stderr().is_terminal() {
        eprintln!("sealing with the certificate of {origin}");
    }
    Ok(key)
}

fn raw(args: &SealArgs, mode: Mode) -> Result<()> {
    if args.merge_into.is_some() {
        bail!("--merge-into cannot be combined with --raw");
    }
    if args.from_file.len() > 1 {
        bail!("--raw takes at most one --from-file");
    }
    let scope = args.scope.unwrap_or_default();
    let name = args.name.clone().unwrap_or_default();
    if scope == Scope::Strict && name.is_empty() {
        bail!("must provide the --name flag with --raw and --scope strict");
    }
    let namespace = match scope {
        Scope::ClusterWide => String::new(),
        _ => match &args.namespace {
            Some(ns) => ns.clone(),
            None => context_namespace(&args.controller.cluster)?,
        },
    };
    let key = public_key(args, mode)?;
    let data = match args.from_file.first() {
        // `[key=]path`: the key part is ignored in raw mode.
        Some(spec) => {
            let path = spec.split_once('=').map_or(spec.as_str(), |(_, p)| p);
            io::read_bytes(Some(Path::new(path)), "--from-file")?
        }
        None => io::read_bytes(None, "stdin")?,
    };
    let ct = hybrid::seal(&key, &data, &scope.label(&namespace, &name))?;
    io::write_output(
        args.sealed_secret_file.as_deref(),
        encode_base64(&ct).as_bytes(),
        Readers::Anyone,
    )
}

/// Seals the input Secret with the target's name and namespace (#286) and scope, adds its
/// items to the target, and rewrites the target atomically in its own format unless `-o` is
/// given.
fn merge_into(args: &SealArgs, target: &Path, secrets: Vec<Secret>, key: &PublicKey) -> Result<()> {
    let [mut secret]: [Secret; 1] = secrets.try_into().map_err(|v: Vec<Secret>| {
        anyhow::anyhow!(
            "--merge-into takes exactly one input Secret, got {}",
            v.len()
        )
    })?;
    let target_name = target.display().to_string();
    let text = io::read_text(Some(target), "--merge-into")?;
    let mut docs: Vec<SealedSecret> =
        parse_objects(&text, "SealedSecret").with_context(|| target_name.clone())?;
    if docs.len() != 1 {
        bail!("{target_name}: --merge-into needs a file holding exactly one SealedSecret");
    }
    let mut original = docs.remove(0);

    check_not_empty(args, &secret)?;
    let object = format!(
        "{target_name}: SealedSecret {}",
        object_ref(&original.metadata)
    );
    // The target's own metadata decides how the controller opens every item, so a new item
    // sealed under another scope could never open there.
    let scope = Scope::from_annotations(&original.metadata.annotations);
    if let Some(flag) = args.scope.filter(|s| *s != scope) {
        bail!(
            "{object}: --scope {flag} conflicts with the target's scope {scope} (from its metadata annotations): items sealed {flag} would not open there; drop --scope or re-seal the whole SealedSecret"
        );
    }
    secret.metadata.name = original.metadata.name.clone();
    secret.metadata.namespace = match scope {
        Scope::ClusterWide => original.metadata.namespace.clone(),
        _ => resolve_namespace(
            &original.metadata.namespace,
            args.namespace.as_deref(),
            &args.controller.cluster,
        )
        .with_context(|| object.clone())?,
    };
    scope.apply_to(&mut secret.metadata.annotations);
    warn_if_too_big(&secret);
    let sealed = seal_secret(&secret, key).with_context(|| object.clone())?;

    original
        .spec
        .encrypted_data
        .extend(sealed.spec.encrypted_data);
    let template = &mut original.spec.template.metadata;
    template
        .annotations
        .extend(sealed.spec.template.metadata.annotations);
    template.labels.extend(sealed.spec.template.metadata.labels);

    let format = args.format.map_or_else(
        || {
            if text.trim_start().starts_with('{') {
                Format::Json
            } else {
                Format::Yaml
            }
        },
        Into::into,
    );
    io::write_output(
        Some(target),
        render(&original, format)?.as_bytes(),
        Readers::Anyone,
    )
}
