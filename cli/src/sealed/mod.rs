//! Sealed Secrets in the CLI. Command modules, each owning its arguments: [`seal`], [`unseal`],
//! [`validate`], [`reencrypt`], [`keys`]; [`kubeseal`] is kubeseal's own command line over the
//! same actions. They share [`input`] (reading SealedSecrets, namespaces, keys, formats),
//! [`controller`] (the running controller, through the API server), [`clusterkey`] (a new
//! key Secret in the cluster, made as the controller makes one), [`certsource`] (the
//! certificate to seal with), [`keystore`] (the local key pair), [`keybackup`] (the
//! controller's keys saved and restored) and [`keyretire`] (keys taken out of service); shared
//! modules never import command modules.

pub mod certsource;
pub mod clusterkey;
pub mod controller;
pub mod input;
pub mod keybackup;
pub mod keyretire;
pub mod keys;
pub mod keystore;
pub mod kubeseal;
pub mod reencrypt;
pub mod seal;
pub mod unseal;
pub mod validate;
