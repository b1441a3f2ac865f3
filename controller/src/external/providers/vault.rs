//! STUB — replaced by the provider implementation.
use std::collections::BTreeMap;

use super::request::{Find, ProviderError, Ref};
use crate::external::refs::Refs;

pub struct Client;

impl Client {
    pub async fn connect(
        _spec: &crate::crd::external::vault::VaultProvider,
        _refs: &Refs,
    ) -> Result<Client, ProviderError> {
        todo!()
    }
    pub async fn get_secret(&self, _r: &Ref) -> Result<Vec<u8>, ProviderError> {
        todo!()
    }
    pub async fn get_secret_map(
        &self,
        _r: &Ref,
    ) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        todo!()
    }
    pub async fn get_all(&self, _f: &Find) -> Result<BTreeMap<String, Vec<u8>>, ProviderError> {
        todo!()
    }
    pub async fn validate(&self) -> Result<(), ProviderError> {
        todo!()
    }
}
