//! PEM and DER key material: private keys (PKCS#1, PKCS#8, Secrets holding `tls.key`, the key
//! backup List), certificates and public keys, as `-k`, `--cert` and the key ring read them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox_crypto::sealed::keyfile::private_keys;
use sealbox_crypto::sealed::{Certificate, PrivateKey, PublicKey, private_keys_from_pem};

fuzz_target!(|data: &[u8]| {
    let _ = Certificate::from_der(data);
    let _ = PublicKey::from_spki_der(data);
    let _ = PublicKey::from_pkcs1_der(data);
    let _ = PrivateKey::from_pkcs8_der(data);
    let _ = PrivateKey::from_pkcs1_der(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = private_keys_from_pem(text);
        let _ = private_keys(text);
        let _ = Certificate::from_pem(text);
        let _ = PublicKey::from_pem(text);
    }
});
