//! What the controller reads out of a provider's secret value, which whoever writes the remote
//! secret controls: gjson-style `property` paths (the first line of the input is the path, the
//! rest the JSON), and the maps of `dataFrom.extract` for Vault and AWS.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox_controller::external::property::{aws_property, aws_secret_map, get, vault_secret_map};

fuzz_target!(|data: &[u8]| {
    let (path, json) = match data.iter().position(|&b| b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&b""[..], data),
    };
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let _ = get(json, path);
    let _ = aws_property(json, path);
    let _ = vault_secret_map(json);
    let _ = aws_secret_map(json);
});
