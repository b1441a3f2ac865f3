//! The SOPS ini store: an encrypted file (tree and metadata) and a plaintext one, as
//! `sealbox decrypt`, `encrypt`, `edit` and the drop-in read them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox_crypto::sops::{Format, load, load_plain};

fuzz_target!(|data: &[u8]| {
    let _ = load_plain(Format::Ini, data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = load(Format::Ini, text);
    }
});
