//! Go `text/template` with the Sprig v3 functions, as ESO (`target.template`, engine v2) and
//! Sealed Secrets (`spec.template.data`) render Secret data. Pure and synchronous.
//!
//! Which function to use when:
//! - [`Template::parse`] once per template text (e.g. per Secret key), then
//!   [`Template::execute`] with the context. Parse errors (syntax, unknown or unsupported
//!   function) come out of `parse`, as Go reports them at parse time.
//! - [`Template::parse_with_delims`] when ESO runs with `--template-left-delimiter` /
//!   `--template-right-delimiter`.
//! - [`Template::parse_sealed_secrets`] for a SealedSecret's `spec.template.data` value:
//!   Sprig without ESO's functions, and Go's default missing-key behaviour.
//! - [`Value::from_strings`] builds the context both upstreams use: `map[string]string` of
//!   the secret's keys (values may be any bytes).
//!
//! ```
//! use std::collections::BTreeMap;
//! use sealbox_crypto::template::{Template, Value};
//!
//! let t = Template::parse(
//!     ".dockerconfigjson",
//!     r#"{"auths":{"{{ .registry }}":{"auth":"{{ printf "%s:%s" .user .pass | b64enc }}"}}}"#,
//! )?;
//! let data = BTreeMap::from([
//!     ("registry".to_string(), "ghcr.io".to_string()),
//!     ("user".to_string(), "bot".to_string()),
//!     ("pass".to_string(), "s3cret".to_string()),
//! ]);
//! let out = t.execute(&Value::from_strings(&data))?;
//! assert_eq!(out, br#"{"auths":{"ghcr.io":{"auth":"Ym90OnMzY3JldA=="}}}"#);
//! # Ok::<(), sealbox_crypto::template::Error>(())
//! ```
//!
//! # Semantics
//!
//! Templates from [`Template::parse`] execute with Go's `Option("missingkey=error")` (ESO's
//! setting): `.missing` on a map fails naming the key. Templates from
//! [`Template::parse_sealed_secrets`] run with Go's default, as Sealed Secrets does: a missing
//! key is no value (printed `<no value>`), and `toYaml`/`fromYaml` are not defined.
//!
//! `execute` returns bytes, not a `String`: Go strings are byte strings, so `{{ .bin }}` and
//! `{{ .x | b64dec }}` pass non-UTF-8 secret bytes through unchanged, and Secret `data` is
//! bytes anyway.
//!
//! Errors ([`Error`]) follow Go's wording (`template: NAME:LINE:COL: executing "NAME" at
//! <.x>: map has no entry for key "x"`) but never contain a data value: only template text,
//! key and function names and Go type names. Where Go would print a value (`range can't
//! iterate over VALUE`, `mustFromJson`'s `invalid character 'x'`), sealbox prints the type or
//! the position.
//!
//! Language: text, `{{ }}` actions with `{{- ` / ` -}}` trimming, `{{/* */}}` comments,
//! pipelines, parenthesised pipelines, `$x := ...`, `$x = ...`, `$`, field chains
//! (`.a.b`, `$x.a`, `(pipe).a`), `if`/`else if`/`else`, `with`/`else with`/`else`, `range`
//! over lists, maps (sorted keys) and integers with `$i, $v :=`, `else`, `break`,
//! `continue`, `define`/`template`/`block`, string (interpreted and raw), character,
//! integer (decimal, hex, octal, binary, `_`) and float literals, `true`/`false`/`nil`.
//! Not supported: complex numbers, hex floats, method calls (there are no Go structs).
//!
//! Functions: Go's `and or not len index print printf println eq ne lt le gt ge html js
//! urlquery`; Sprig's strings (`trim upper lower title untitle trimAll trimPrefix trimSuffix
//! nospace contains hasPrefix hasSuffix quote squote cat indent nindent replace repeat substr
//! trunc abbrev plural toString toStrings split splitList splitn join sortAlpha`), encodings
//! and hashes (`b64enc b64dec b32enc b32dec sha1sum sha256sum sha512sum adler32sum`), regex
//! (`regexMatch regexFind regexFindAll regexReplaceAll regexReplaceAllLiteral regexSplit
//! regexQuoteMeta` and their `must` forms), defaults (`default empty coalesce all any
//! ternary fail deepCopy`), JSON (`fromJson toJson toPrettyJson toRawJson` and `must`
//! forms), lists (`list tuple append push prepend first last rest initial reverse uniq has
//! without compact concat until` and `must` forms), dicts (`dict get set unset hasKey keys
//! values pick omit pluck dig merge mergeOverwrite`), numbers (`atoi int int64 float64 add
//! add1 sub mul div mod max biggest min`), types (`typeOf kindOf typeIs kindIs deepEqual`);
//! ESO's `toYaml fromYaml`.
//!
//! Left out, each a parse-time [`Error::UnsupportedFunction`] naming it: `env`, `expandenv`,
//! `getHostByName` (removed upstream too); Sprig's crypto generators (`htpasswd`, `bcrypt`,
//! `genCA`, `genSignedCert`, `genPrivateKey`, `encryptAES`, ...), random values
//! (`randAlphaNum`, `uuidv4`, ...), dates (`now`, `date`, ...), semver, URL, path and
//! float-math helpers, case converters (`snakecase`, ...), `slice`, `chunk`; ESO's PKCS#12,
//! PEM, JWK and `rsaDecrypt` helpers.
//!
//! Known differences from Go: `keys`/`values` return sorted order (Go's is random);
//! `set`/`merge` update the variable they are given but not other aliases of the same map;
//! `index` on a missing key gives `""` when the map holds only strings (Go: the element
//! type's zero value, which is `""` for ESO's `map[string]string`) and nil otherwise;
//! `%q`'s notion of a printable rune approximates `unicode.IsPrint`.
//!
//! Engine choice: the `gtmpl` crate (0.7, last released 2021) has no Sprig functions, no
//! `missingkey=error`, no byte strings and no trim markers in some forms, so sealbox carries
//! this small engine of its own, written from Go's `text/template` and Sprig sources and
//! tested against outputs derived from them.

mod error;
mod exec;
mod fmt;
mod funcs;
mod json;
mod lexer;
mod limits;
mod number;
mod parser;
mod value;
mod yaml;

#[cfg(test)]
mod tests;

pub use error::Error;
pub use value::Value;

/// A parsed template (with its `define`d templates); parse once, execute many times.
#[derive(Debug)]
pub struct Template {
    name: String,
    set: parser::Set,
    /// ESO's dialect (`missingkey=error`, `toYaml`/`fromYaml`) rather than Sealed Secrets'.
    eso: bool,
}

impl Template {
    /// Parses `text` with the `{{ }}` delimiters. `name` appears in error messages (e.g. the
    /// Secret key `"config.json"`).
    pub fn parse(name: &str, text: &str) -> Result<Template, Error> {
        Template::parse_with_delims(name, text, "{{", "}}")
    }

    /// Parses with custom delimiters (ESO's `--template-left-delimiter` and
    /// `--template-right-delimiter`); an empty delimiter means the default, as in Go.
    pub fn parse_with_delims(
        name: &str,
        text: &str,
        left: &str,
        right: &str,
    ) -> Result<Template, Error> {
        let left = if left.is_empty() { "{{" } else { left };
        let right = if right.is_empty() { "}}" } else { right };
        Ok(Template {
            name: name.to_string(),
            set: parser::parse(name, text, left, right, true)?,
            eso: true,
        })
    }

    /// Parses a SealedSecret `spec.template.data` value as the Sealed Secrets controller does
    /// (spec `sealed-secrets.md` §2.3 step 3): Go's and Sprig's functions only (no `env`,
    /// `expandenv`, `getHostByName`; no ESO `toYaml`/`fromYaml`), and at execution a missing
    /// key gives no value instead of an error.
    pub fn parse_sealed_secrets(name: &str, text: &str) -> Result<Template, Error> {
        Ok(Template {
            name: name.to_string(),
            set: parser::parse(name, text, "{{", "}}", false)?,
            eso: false,
        })
    }

    /// Executes with `data` as the dot (with Go's `missingkey=error` unless parsed by
    /// [`Template::parse_sealed_secrets`]). Returns the output bytes (see the module docs for
    /// why bytes).
    pub fn execute(&self, data: &Value) -> Result<Vec<u8>, Error> {
        exec::run(&self.name, &self.set, data, self.eso)
    }
}
