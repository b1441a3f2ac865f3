//! `sealbox-controller`: parses the flags, sets up logging and the Kubernetes client, starts
//! the reconcilers and the HTTP servers as supervised tasks, and runs until SIGTERM/SIGINT
//! (graceful shutdown, exit 0) or until a task fails (exit 1). Flags are sealed-secrets' (spec
//! `sealed-secrets.md` §3.4; each also `SEALED_SECRETS_<FLAG>`).
#![forbid(unsafe_code)]

use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use kube::Client;
use sealbox_controller::flags::listen_addr;
use sealbox_controller::metrics::Registry;
use sealbox_controller::supervisor::Supervisor;
use sealbox_controller::{external, http, leader, sealed};
use tokio::signal::unix::{SignalKind, signal};
use tracing::info;

/// How long in-flight reconciles and requests get after SIGTERM: within Kubernetes' default
/// 30 s grace period, and well within the 10 s the controller promises.
const GRACE: Duration = Duration::from_secs(8);

/// How long the runtime waits, once every task has stopped, for blocking work still running
/// (a key being generated, a decrypt whose reconcile was dropped) before the process exits
/// without it. Their results would be thrown away: a key is stored only once it is whole.
const ABANDON_BLOCKING: Duration = Duration::from_millis(100);

#[derive(Parser)]
#[command(
    name = "sealbox-controller",
    version,
    about = "Unseals SealedSecrets and syncs ExternalSecrets in the cluster; serves kubeseal's API."
)]
struct Flags {
    /// Run the Sealed Secrets controller: the SealedSecret reconciler, its key ring and
    /// kubeseal's API (sealbox; on by default).
    #[arg(long, env = "SEALBOX_SEALED_SECRETS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    sealed_secrets: bool,
    #[command(flatten)]
    sealed: sealed::Args,
    /// Run the External Secrets controller: ExternalSecrets synced from AWS Secrets Manager
    /// and Vault, and their stores validated (sealbox; on by default).
    #[arg(long, env = "SEALBOX_EXTERNAL_SECRETS", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    external_secrets: bool,
    #[command(flatten)]
    external: external::Args,
    #[command(flatten)]
    leader: leader::Args,
    #[command(flatten)]
    http: http::Args,
}

fn main() -> ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // Colours only on a terminal: a pod's log (a file) gets plain text.
    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let flags = Flags::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(flags));
    // Not `drop(runtime)` (nor `#[tokio::main]`): that waits for every `spawn_blocking` task,
    // and an RSA-8192 key generation can take longer than the whole shutdown may.
    runtime.shutdown_timeout(ABANDON_BLOCKING);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A task's failure is already in the log (the supervisor's `error!`); this line is
            // for start-up errors and for whoever reads only stderr.
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(flags: Flags) -> anyhow::Result<()> {
    let stop = stop_signal()?;
    tokio::pin!(stop);
    if flags.sealed_secrets {
        flags.sealed.check()?;
    }
    flags.leader.check()?;
    let api_addr = listen_addr(&flags.http.listen_addr).map_err(anyhow::Error::msg)?;
    let metrics_addr = listen_addr(&flags.http.listen_metrics_addr).map_err(anyhow::Error::msg)?;
    let client = Client::try_default()
        .await
        .context("cannot configure the Kubernetes client: set KUBECONFIG or run in a pod with a service account")?;
    let mut registry = Registry::default();
    let mut tasks = Supervisor::new();
    let leadership = leader::elect(flags.leader, client.clone(), &mut registry, &mut tasks);
    let start = async {
        let mut routes = axum::Router::new();
        if flags.sealed_secrets {
            let sealed = sealed::run(
                flags.sealed,
                client.clone(),
                &leadership,
                &mut registry,
                &mut tasks,
            );
            routes = routes.merge(sealed.await?);
        }
        if flags.external_secrets {
            external::run(
                flags.external,
                client,
                &leadership,
                &mut registry,
                &mut tasks,
            );
        }
        anyhow::Ok(routes)
    };
    let routes = tokio::select! {
        routes = start => routes?,
        why = &mut stop => {
            info!("{why} during start-up: exiting");
            return Ok(());
        }
    };
    http::spawn(
        &mut tasks,
        api_addr,
        routes,
        metrics_addr,
        registry.freeze(),
    );
    tasks.run(stop, GRACE).await?;
    Ok(())
}

/// Resolves to the signal's name on SIGTERM (Kubernetes stopping the pod) or SIGINT.
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = &'static str>> {
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::Flags;

    #[test]
    fn the_flags_are_consistent() {
        Flags::command().debug_assert();
    }

    #[test]
    fn sealed_secrets_flags_keep_their_names_and_defaults() {
        let flags = Flags::parse_from(["sealbox-controller"]);
        assert_eq!(flags.sealed.key_prefix, "sealed-secrets-key");
        assert_eq!(flags.sealed.key_size, 4096);
        assert_eq!(flags.sealed.key_renew_period.as_secs(), 720 * 3600);
        assert!(flags.sealed_secrets);
        assert!(flags.sealed.update_status && flags.sealed.key_memory);
        assert_eq!(flags.http.listen_addr, ":8080");
        assert_eq!(flags.http.listen_metrics_addr, ":8081");
        let flags = Flags::parse_from([
            "sealbox-controller",
            "--rotate-period=0",
            "--update-status=false",
            "--key-memory",
            "--key-cutoff-time=Mon, 30 Nov 2026 15:47:34 +0000",
            "--listen-addr=127.0.0.1:1",
            "--sealed-secrets=false",
        ]);
        assert!(!flags.sealed_secrets);
        assert!(flags.sealed.key_renew_period.is_zero());
        assert!(!flags.sealed.update_status && flags.sealed.key_memory);
        assert!(flags.sealed.key_cutoff_time.is_some());
        assert_eq!(flags.http.listen_addr, "127.0.0.1:1");
    }

    #[test]
    fn accept_deprecated_v1_data_defaults_to_true_as_upstream() {
        let flags = Flags::parse_from(["sealbox-controller"]);
        assert!(flags.sealed.accept_deprecated_v1_data);
        for (arg, want) in [
            ("--accept-deprecated-v1-data=false", false),
            ("--accept-deprecated-v1-data", true),
        ] {
            let flags = Flags::parse_from(["sealbox-controller", arg]);
            assert_eq!(flags.sealed.accept_deprecated_v1_data, want, "{arg}");
        }
    }
}
