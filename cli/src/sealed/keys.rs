//! `sealbox keys …`: the local key store that seal and unseal use when no certificate or key
//! is given, and backup, restore, renewal and retirement of a cluster controller's keys.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;

use crate::sealed::clusterkey::{self, ClusterKeyArgs};
use crate::sealed::controller::ControllerArgs;
use crate::sealed::{keybackup, keyretire, keystore};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key pair and certificate (RSA-4096, like the controller's) if none exists.
    Init,
    /// Add a new key pair; it seals from now on, older keys still unseal. With --cluster, in
    /// the cluster controller's namespace, made as the controller makes one; a running
    /// sealbox-controller adopts it at once.
    Renew {
        /// Make the key in the cluster (a key Secret in --controller-namespace) instead of the
        /// local key store.
        #[arg(long)]
        cluster: bool,
        #[command(flatten)]
        key: ClusterKeyArgs,
    },
    /// Print the newest certificate (PEM) to share with people who seal.
    ExportCert,
    /// Save the controller's key Secrets from the cluster (a List, mode 0600), as the upstream
    /// runbook's `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`.
    Backup {
        /// Output file (default: stdout).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        #[command(flatten)]
        controller: ControllerArgs,
    },
    /// Put the key Secrets of a backup into the cluster's controller namespace.
    Restore {
        /// The backup file (a List or Secrets with tls.key and tls.crt).
        file: PathBuf,
        #[command(flatten)]
        controller: ControllerArgs,
    },
    /// Take keys out of service in the cluster (after `reencrypt`, or when one leaked): their
    /// Secrets are relabelled `retired`, kept, never deleted. Without names, every active key
    /// but the newest; the newest, which seals, is never retired. A running sealbox-controller
    /// drops them at once.
    Retire {
        /// Key Secrets to retire (default: every active one but the newest).
        secrets: Vec<String>,
        #[command(flatten)]
        controller: ControllerArgs,
    },
}

pub fn run(command: &KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Init => keystore::init(),
        KeysCommand::Renew { cluster: true, key } => clusterkey::renew(key),
        KeysCommand::Renew { cluster: false, .. } => keystore::renew(),
        KeysCommand::ExportCert => keystore::export_cert(),
        KeysCommand::Backup { output, controller } => {
            keybackup::backup(controller, output.as_deref())
        }
        KeysCommand::Restore { file, controller } => keybackup::restore(controller, file),
        KeysCommand::Retire {
            secrets,
            controller,
        } => keyretire::retire(controller, secrets),
    }
}
