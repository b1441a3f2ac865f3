//! `.sops.yaml`: parsed, then every creation rule matched against a few paths (its
//! `path_regex` and selector compiled) as `encrypt`, `updatekeys`, `check` and `audit` do.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealbox_crypto::sops::config::Config;

fuzz_target!(|text: &str| {
    let Ok(config) = Config::parse(text) else {
        return;
    };
    for path in ["secret.yaml", "apps/prod/db.enc.json", ".env", "a/b/c.ini"] {
        if let Ok(Some(rule)) = config.find_rule(path) {
            let _ = rule.groups();
            let _ = rule.selector();
        }
    }
});
