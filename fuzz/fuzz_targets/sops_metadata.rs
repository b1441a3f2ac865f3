//! The `sops` metadata block: as JSON/YAML stores carry it (a map), and flattened as dotenv
//! and INI files carry it (`sops_age__list_0__map_recipient=…` pairs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox_crypto::sops::Metadata;

fuzz_target!(|text: &str| {
    let _ = serde_json::from_str::<Metadata>(text);
    let pairs: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let _ = Metadata::from_flat(&pairs);
});
