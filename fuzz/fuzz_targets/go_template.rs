//! Go `text/template` with Sprig functions, as ExternalSecret templates and SealedSecret
//! `template.data` use it: parsed, then executed over a small map of values.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use sealbox_crypto::template::{Template, Value};

fuzz_target!(|text: &str| {
    let Ok(template) = Template::parse("fuzz", text) else {
        return;
    };
    let data = Value::from_strings(&BTreeMap::from([
        ("user".to_owned(), "admin"),
        ("password".to_owned(), "s3cr3t"),
        ("json".to_owned(), r#"{"a":[1,2,{"b":null}]}"#),
    ]));
    let _ = template.execute(&data);
});
