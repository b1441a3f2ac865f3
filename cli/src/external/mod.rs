//! ExternalSecrets (External Secrets Operator's `external-secrets.io` API) in a cluster, as a
//! user drives them from outside the controller. Command modules, each owning its arguments:
//! [`refresh`] asks the controller (sealbox-controller or ESO) to sync ExternalSecrets now.

pub mod refresh;

use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ExternalCommand {
    /// Ask the controller for an immediate sync of ExternalSecrets (ESO's force-sync
    /// annotation set to the current Unix time); --wait until each has synced.
    Refresh(refresh::RefreshArgs),
}

pub fn run(command: &ExternalCommand) -> Result<()> {
    match command {
        ExternalCommand::Refresh(args) => refresh::run(args),
    }
}
