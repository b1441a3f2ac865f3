//! The hybrid ciphertext of one SealedSecret item (`u16be(len) ‖ RSA-OAEP ‖ AES-GCM`), opened
//! with a real key: every malformed or tampered input must be `no key could decrypt`, never a
//! panic. The first input byte picks the label.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealbox_crypto::sealed::PrivateKey;
use sealbox_crypto::sealed::hybrid::open;

fn key() -> &'static PrivateKey {
    static KEY: OnceLock<PrivateKey> = OnceLock::new();
    KEY.get_or_init(|| PrivateKey::generate(2048).expect("an RSA key"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, ciphertext)) = data.split_first() else {
        return;
    };
    let label: &[u8] = match pick % 3 {
        0 => b"",
        1 => b"default",
        _ => b"default/name",
    };
    let _ = open(std::slice::from_ref(key()), ciphertext, label);
});
