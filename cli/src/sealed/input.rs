//! What every Sealed Secrets command reads the same way: SealedSecrets from a file or stdin
//! ([`read_sealed`]), the namespace an object lands in ([`resolve_namespace`]), private keys
//! ([`KeySourceArgs::load`]) and the output format ([`FormatArg`], [`output_format`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use sealbox_crypto::sealed::manifest::{Format, object_ref, parse_objects};
use sealbox_crypto::sealed::{PrivateKey, Scope, SealedSecret, keyfile};

use crate::cluster::ClusterArgs;
use crate::io;
use crate::sealed::keystore;

/// kubeseal's `-o` values.
#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Json,
    Yaml,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Json => Format::Json,
            FormatArg::Yaml => Format::Yaml,
        }
    }
}

/// `-o` wins; else an output file named `.yaml`/`.yml` means YAML; else the mode's default.
pub fn output_format(flag: Option<FormatArg>, file: Option<&Path>, default: Format) -> Format {
    let yaml_file = file
        .and_then(Path::extension)
        .is_some_and(|e| e == "yaml" || e == "yml");
    if yaml_file {
        Format::Yaml
    } else {
        flag.map_or(default, Into::into)
    }
}

/// Where private keys come from, for unseal and validate.
#[derive(Args, Default)]
pub struct KeySourceArgs {
    /// Private key files: PEM (PKCS#1 or PKCS#8), a Secret with tls.key, or the backup List
    /// from `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`.
    /// Repeat or comma-separate. Default: the local key store.
    #[arg(
        long = "recovery-private-key",
        visible_alias = "key",
        short = 'k',
        value_delimiter = ','
    )]
    pub recovery_private_key: Vec<PathBuf>,
}

impl KeySourceArgs {
    /// Keys from `--recovery-private-key` files in the order given, else the key store's,
    /// newest first.
    pub fn load(&self) -> Result<Vec<PrivateKey>> {
        if self.recovery_private_key.is_empty() {
            let keys = keystore::private_keys()?;
            if keys.is_empty() {
                bail!(
                    "no private keys: pass --recovery-private-key FILE (a PEM key or the key backup \
                     List), or run `sealbox keys init` for a local key store"
                );
            }
            return Ok(keys);
        }
        let mut keys = Vec::new();
        for path in &self.recovery_private_key {
            let text = io::read_text(Some(path), "--recovery-private-key")?;
            keys.extend(keyfile::private_keys(&text).with_context(|| path.display().to_string())?);
        }
        Ok(keys)
    }
}

/// The SealedSecrets in `path` (stdin when `None`), each with the namespace it lands in.
pub fn read_sealed(
    path: Option<&Path>,
    namespace: Option<&str>,
    cluster: &ClusterArgs,
) -> Result<Vec<SealedSecret>> {
    let source = path.map_or("stdin".to_owned(), |p| p.display().to_string());
    let text = io::read_text(path, "--sealed-secret-file")?;
    let mut docs: Vec<SealedSecret> =
        parse_objects(&text, "SealedSecret").with_context(|| source.clone())?;
    if docs.is_empty() {
        bail!("{source}: no SealedSecret found");
    }
    for ss in &mut docs {
        // The controller binds the label to the namespace the object lives in; a cluster-wide
        // one needs none, and gets none it did not have.
        if Scope::from_annotations(&ss.metadata.annotations) == Scope::ClusterWide
            && namespace.is_none()
        {
            continue;
        }
        ss.metadata.namespace = resolve_namespace(&ss.metadata.namespace, namespace, cluster)
            .with_context(|| format!("{source}: SealedSecret {}", object_ref(&ss.metadata)))?;
    }
    Ok(docs)
}

/// The input's namespace, which `--namespace` must not contradict; else `--namespace`; else
/// the kubeconfig context's (kubectl's rule); else "default".
pub fn resolve_namespace(input: &str, flag: Option<&str>, cluster: &ClusterArgs) -> Result<String> {
    match flag {
        Some(flag) if !input.is_empty() && flag != input => bail!(
            "namespace mismatch: input secret is in namespace {input:?} but {flag:?} was specified"
        ),
        _ if !input.is_empty() => Ok(input.to_owned()),
        Some(flag) => Ok(flag.to_owned()),
        None => context_namespace(cluster),
    }
}

/// The kubeconfig context's namespace, else "default" (with a note saying so).
pub fn context_namespace(cluster: &ClusterArgs) -> Result<String> {
    let found = match cluster.context_namespace() {
        Ok(found) => found,
        // kubeseal ignores kubeconfig errors when sealing whole Secrets since v0.32 (#1798,
        // spec `sealed-secrets.md` §4.3); its drop-in does too, saying so.
        Err(e) if cluster.tolerate_broken_kubeconfig => {
            eprintln!("warning: {e:#}; ignored, as kubeseal ignores it");
            None
        }
        Err(e) => return Err(e),
    };
    Ok(match found {
        Some(ns) => ns,
        None => {
            eprintln!(
                "note: using namespace \"default\": none given with --namespace, in the input, or in the kubeconfig context"
            );
            "default".to_owned()
        }
    })
}

/// `f` over every item on every core, results in input order. Unsealing and validating are
/// one RSA private operation per item (milliseconds each, spec `sealed-secrets.md` §9), so a
/// run over many SealedSecrets is bound by how many cores do them at once. Workers take the
/// next item as they finish one, so uneven objects (many items, many keys) do not leave a
/// core idle.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let mut indexed: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break done };
                        done.push((i, f(item)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a worker panicked"))
            .collect()
    });
    indexed.sort_unstable_by_key(|(i, _)| *i);
    indexed.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::par_map;

    #[test]
    fn par_map_keeps_input_order() {
        let items: Vec<u32> = (0..1000).collect();
        let out = par_map(&items, |i| i * 2);
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(par_map(&[] as &[u32], |i| *i).is_empty());
    }
}
