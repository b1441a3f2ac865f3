//! Black-box tests of the sealbox binaries against real peers. Run through `scripts/test.sh`,
//! which installs the peers (kubesealpy) and exports where they are.

mod age_keys;
mod audit;
mod aws_provider;
mod chart;
mod chart_install;
mod check;
mod cluster_access;
mod cluster_commands;
mod controller_e2e;
mod controller_flags;
mod controller_lifecycle;
mod demo;
mod docs;
mod external;
mod external_clients;
mod interrupted_writes;
mod leader_election;
mod leaks;
mod messages;
mod migrate_eso;
mod migrate_kubeseal;
mod migrate_sops;
mod module_graph;
mod rollout;
mod runbook_age;
mod runbook_secretstore;
mod runbooks;
mod sealed_cli;
mod sealed_errors;
mod sealed_interop;
mod sealed_template_v1;
mod servers;
mod sops;
mod vault_provider;
