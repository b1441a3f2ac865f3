//! SealedSecret and Secret manifests (YAML streams, concatenated JSON), as `sealbox unseal`,
//! `validate`, `reencrypt` and the controller's HTTP API read them, then every item opened
//! without keys (scope labels, base64) and the object rendered back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox_crypto::sealed::manifest::{Format, parse_documents, parse_objects, render};
use sealbox_crypto::sealed::{SealedSecret, Secret, open_items};

fuzz_target!(|text: &str| {
    if let Ok(sealed) = parse_objects::<SealedSecret>(text, "SealedSecret") {
        for object in &sealed {
            let _ = open_items(object, &[]);
            let _ = render(object, Format::Yaml);
            let _ = render(object, Format::Json);
        }
    }
    let _ = parse_documents::<Secret>(text);
});
