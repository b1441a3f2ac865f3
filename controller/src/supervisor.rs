//! Every long-running task of the process, watched: the reconcilers, their background jobs
//! and the HTTP servers run until the process stops, so one that ends early (an error, a
//! panic, or simply returning) means the process can no longer do its job. [`Supervisor::run`]
//! then logs which task and why, stops the rest and fails, so the pod is restarted.
//!
//! On SIGTERM (the `stop` future) it starts a graceful shutdown instead: tasks spawned with
//! [`Supervisor::spawn_draining`] are told through their [`Shutdown`] and finish what they are
//! doing (in-flight reconciles, HTTP requests); tasks spawned with [`Supervisor::spawn`] are
//! dropped at once. Which to use: `spawn_draining` when stopping midway would leave work half
//! done, `spawn` for loops that only wait (timers, watches, signal handlers).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use sealbox_controller::supervisor::Supervisor;
//! let mut tasks = Supervisor::new();
//! tasks.spawn("idle loop", std::future::pending());
//! tasks.spawn_draining("server", |shutdown| async move {
//!     shutdown.wait().await;
//!     Ok(())
//! });
//! let stopped = tasks.run(async { "SIGTERM" }, Duration::from_secs(1)).await;
//! assert!(stopped.is_ok());
//! # });
//! ```

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

/// Resolves once a graceful shutdown has started. Cheap to clone: one per task.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Waits for the shutdown to start (for ever if the supervisor never starts one).
    pub async fn wait(mut self) {
        if self.0.wait_for(|started| *started).await.is_err() {
            // The supervisor is gone without starting a shutdown: nothing will ever stop us.
            std::future::pending::<()>().await;
        }
    }
}

/// Why the process stops with an error.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A task ended while the process was running: returned, failed or panicked.
    #[error("task {task:?} {reason}")]
    TaskEnded { task: String, reason: String },
    /// The graceful shutdown did not finish in time; these tasks were still running.
    #[error("shutdown did not finish within {grace:?}: {tasks:?} still running")]
    Timeout { grace: Duration, tasks: Vec<String> },
}

type Ending = Result<anyhow::Result<()>, Box<dyn Any + Send>>;

/// The set of supervised tasks.
pub struct Supervisor {
    tasks: JoinSet<(String, Ending)>,
    running: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    shutdown: watch::Sender<bool>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::new()
    }
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor {
            tasks: JoinSet::new(),
            running: Default::default(),
            shutdown: watch::Sender::new(false),
        }
    }

    /// A handle that resolves when the graceful shutdown starts.
    pub fn shutdown(&self) -> Shutdown {
        Shutdown(self.shutdown.subscribe())
    }

    /// Runs `task` until the process stops; it is dropped when the shutdown starts.
    pub fn spawn(
        &mut self,
        name: impl Into<String>,
        task: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        let shutdown = self.shutdown();
        self.spawn_draining(name, move |_| async move {
            tokio::select! {
                ended = task => ended,
                () = shutdown.wait() => Ok(()),
            }
        });
    }

    /// Runs the task `start` makes; it is told through its [`Shutdown`] when the shutdown
    /// starts and is expected to finish soon after, returning `Ok`.
    pub fn spawn_draining<F>(&mut self, name: impl Into<String>, start: impl FnOnce(Shutdown) -> F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let name = name.into();
        let task = start(self.shutdown());
        let running = self.running.clone();
        running.lock().expect("lock").push(name.clone());
        self.tasks.spawn(async move {
            let ending = AssertUnwindSafe(task).catch_unwind().await;
            running.lock().expect("lock").retain(|n| *n != name);
            (name, ending)
        });
    }

    /// Waits until `stop` resolves (to the reason, e.g. `"SIGTERM"`) or a task ends. Then
    /// shuts down: every task is told, and those still running after `grace` are aborted.
    /// `Ok` only when `stop` came first and every task finished cleanly in time.
    pub async fn run(
        mut self,
        stop: impl Future<Output = &'static str>,
        grace: Duration,
    ) -> Result<(), Failure> {
        let mut failure = tokio::select! {
            why = stop => {
                info!("{why}: shutting down");
                None
            }
            Some(joined) = self.tasks.join_next() => {
                let failure = ended(joined);
                error!("{failure}; stopping");
                Some(failure)
            }
        };
        self.shutdown.send_replace(true);
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                joined = self.tasks.join_next() => match joined {
                    None => break,
                    Some(Ok((_, Ok(Ok(()))))) => {}
                    Some(joined) => {
                        let late = ended(joined);
                        error!("during shutdown: {late}");
                        failure.get_or_insert(late);
                    }
                },
                () = &mut deadline => {
                    let tasks = self.running.lock().expect("lock").clone();
                    let timeout = Failure::Timeout { grace, tasks };
                    warn!("{timeout}; aborting them");
                    self.tasks.abort_all();
                    failure.get_or_insert(timeout);
                    break;
                }
            }
        }
        match failure {
            None => {
                info!("shut down cleanly");
                Ok(())
            }
            Some(failure) => Err(failure),
        }
    }
}

/// What a task's end says about it.
fn ended(joined: Result<(String, Ending), tokio::task::JoinError>) -> Failure {
    let (task, reason) = match joined {
        Ok((task, Ok(Ok(())))) => (task, "ended unexpectedly".to_owned()),
        Ok((task, Ok(Err(e)))) => (task, format!("failed: {e:#}")),
        Ok((task, Err(panic))) => (task, format!("panicked: {}", panic_message(&*panic))),
        // Tasks are aborted only after the loops above; a JoinError here is a runtime fault.
        Err(e) => ("(unknown)".to_owned(), format!("could not be joined: {e}")),
    };
    Failure::TaskEnded { task, reason }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(5);

    fn never() -> impl Future<Output = &'static str> {
        std::future::pending()
    }

    /// A server-like task that drains on shutdown, and an idle loop.
    fn with_bystanders(tasks: &mut Supervisor) {
        tasks.spawn("idle", std::future::pending());
        tasks.spawn_draining("server", |shutdown| async move {
            shutdown.wait().await;
            Ok(())
        });
    }

    #[tokio::test]
    async fn a_task_that_fails_stops_the_process_with_its_name_and_reason() {
        let mut tasks = Supervisor::new();
        with_bystanders(&mut tasks);
        tasks.spawn("key watcher", async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(anyhow::anyhow!("connection refused").context("cannot list key Secrets"))
        });
        let failure = tasks.run(never(), GRACE).await.unwrap_err();
        assert_eq!(
            failure.to_string(),
            "task \"key watcher\" failed: cannot list key Secrets: connection refused"
        );
    }

    #[tokio::test]
    async fn a_task_that_panics_stops_the_process_with_the_panic_message() {
        let mut tasks = Supervisor::new();
        with_bystanders(&mut tasks);
        tasks.spawn("renewal", async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let keys: Vec<u8> = Vec::new();
            let _ = keys.first().expect("a key to renew");
            Ok(())
        });
        let failure = tasks.run(never(), GRACE).await.unwrap_err();
        assert_eq!(
            failure.to_string(),
            "task \"renewal\" panicked: a key to renew"
        );
    }

    #[tokio::test]
    async fn a_task_that_returns_early_is_a_failure_too() {
        let mut tasks = Supervisor::new();
        with_bystanders(&mut tasks);
        tasks.spawn("watch", async { Ok(()) });
        let failure = tasks.run(never(), GRACE).await.unwrap_err();
        assert_eq!(failure.to_string(), "task \"watch\" ended unexpectedly");
    }

    #[tokio::test]
    async fn stop_lets_draining_tasks_finish_their_work() {
        let mut tasks = Supervisor::new();
        with_bystanders(&mut tasks);
        let (done, finished) = tokio::sync::oneshot::channel();
        tasks.spawn_draining("reconciler", |shutdown| async move {
            shutdown.wait().await;
            // In-flight work after the signal still completes.
            tokio::time::sleep(Duration::from_millis(50)).await;
            done.send(()).unwrap();
            Ok(())
        });
        tasks.run(async { "SIGTERM" }, GRACE).await.unwrap();
        finished
            .await
            .expect("the draining task finished before run returned");
    }

    #[tokio::test]
    async fn a_task_that_does_not_drain_in_time_is_aborted_and_reported() {
        let mut tasks = Supervisor::new();
        with_bystanders(&mut tasks);
        tasks.spawn_draining("stuck", |_| std::future::pending());
        let grace = Duration::from_millis(100);
        let failure = tasks.run(async { "SIGTERM" }, grace).await.unwrap_err();
        assert_eq!(
            failure.to_string(),
            "shutdown did not finish within 100ms: [\"stuck\"] still running"
        );
    }

    #[tokio::test]
    async fn a_task_failing_during_shutdown_is_reported() {
        let mut tasks = Supervisor::new();
        tasks.spawn_draining("server", |shutdown| async move {
            shutdown.wait().await;
            anyhow::bail!("connections did not close")
        });
        let failure = tasks.run(async { "SIGTERM" }, GRACE).await.unwrap_err();
        assert_eq!(
            failure.to_string(),
            "task \"server\" failed: connections did not close"
        );
    }
}
