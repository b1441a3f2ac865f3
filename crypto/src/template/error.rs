//! The one error type of the template engine. Messages follow Go's `text/template` wording so
//! people can search for them, but they never carry a value of the data (spec
//! `external-secrets.md` §8: the data are secrets): only template text, key and function names,
//! and Go type names.

/// Why a template did not parse or did not execute.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not a valid template: Go's `template: NAME:LINE: MESSAGE`.
    #[error("template: {name}:{line}: {message}")]
    Parse {
        /// The name given to `parse` (e.g. the Secret key).
        name: String,
        /// 1-based line of the offending token.
        line: usize,
        /// What is wrong, in Go's words.
        message: String,
    },
    /// The template calls a function that neither Go, Sprig nor ESO defines (Go's
    /// `function "x" not defined`).
    #[error(
        "template: {name}:{line}: function \"{function}\" not defined (sealbox supports Go's \
         built-in template functions, the Sprig v3 text functions and ESO's toYaml/fromYaml; \
         see the crypto::template docs for the list)"
    )]
    UnknownFunction {
        /// The template name.
        name: String,
        /// 1-based line of the call.
        line: usize,
        /// The function name as written.
        function: String,
    },
    /// The template calls a Sprig or ESO function that exists upstream but that sealbox does
    /// not implement (random, date, crypto generators, PKCS#12 helpers, ...).
    #[error("template: {name}:{line}: function \"{function}\" is not supported by sealbox ({why})")]
    UnsupportedFunction {
        /// The template name.
        name: String,
        /// 1-based line of the call.
        line: usize,
        /// The function name.
        function: String,
        /// Why it is left out, and what to use instead when there is something.
        why: &'static str,
    },
    /// Executing failed: Go's `template: NAME:LINE:COL: executing "TEMPLATE" at <NODE>: MESSAGE`.
    /// `context` is the template text of the node being evaluated, never a data value.
    #[error("template: {name}:{line}:{col}: executing \"{template}\" at <{context}>: {message}")]
    Execute {
        /// The name given to `parse`.
        name: String,
        /// The template being executed (differs from `name` inside `{{define}}`d templates).
        template: String,
        /// 1-based line.
        line: usize,
        /// 0-based byte column, as Go reports it.
        col: usize,
        /// The node's template text, e.g. `.password` or `b64dec`.
        context: String,
        /// What went wrong; names keys, functions and types, never values.
        message: String,
    },
}
