//! The function map: Go's built-ins, the Sprig v3 text functions ESO and Sealed Secrets ship
//! (minus the ones sealbox leaves out, see [`UNSUPPORTED`]) and ESO's `toYaml`/`fromYaml`.
//! Arguments arrive evaluated; each function checks its own arity and types with Go's
//! wording.

mod args;
mod builtin;
mod collections;
mod strings;

pub(super) use args::Fail;
use args::Result;

use super::value::Value;

/// ESO's own functions: Sealed Secrets' function map (Sprig's) does not define them.
const ESO_ONLY: &[&str] = &["toYaml", "fromYaml"];

/// Every name [`call`] answers.
const SUPPORTED: &[&str] = &[
    // Go built-ins.
    "and",
    "or",
    "not",
    "len",
    "index",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "html",
    "js",
    "urlquery",
    // Sprig strings.
    "trim",
    "upper",
    "lower",
    "title",
    "untitle",
    "trimAll",
    "trimall",
    "trimPrefix",
    "trimSuffix",
    "nospace",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "quote",
    "squote",
    "cat",
    "indent",
    "nindent",
    "replace",
    "repeat",
    "substr",
    "trunc",
    "abbrev",
    "plural",
    "toString",
    "toStrings",
    "split",
    "splitList",
    "splitn",
    "join",
    "sortAlpha",
    "b64enc",
    "b64dec",
    "b32enc",
    "b32dec",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "adler32sum",
    "regexMatch",
    "mustRegexMatch",
    "regexFind",
    "mustRegexFind",
    "regexFindAll",
    "mustRegexFindAll",
    "regexReplaceAll",
    "mustRegexReplaceAll",
    "regexReplaceAllLiteral",
    "mustRegexReplaceAllLiteral",
    "regexSplit",
    "mustRegexSplit",
    "regexQuoteMeta",
    "fail",
    // Sprig defaults, JSON, ESO YAML.
    "default",
    "empty",
    "coalesce",
    "all",
    "any",
    "ternary",
    "fromJson",
    "mustFromJson",
    "toJson",
    "mustToJson",
    "toPrettyJson",
    "mustToPrettyJson",
    "toRawJson",
    "mustToRawJson",
    "toYaml",
    "fromYaml",
    "deepCopy",
    "mustDeepCopy",
    // Sprig lists.
    "list",
    "tuple",
    "append",
    "push",
    "mustAppend",
    "mustPush",
    "prepend",
    "mustPrepend",
    "first",
    "mustFirst",
    "last",
    "mustLast",
    "rest",
    "mustRest",
    "initial",
    "mustInitial",
    "reverse",
    "mustReverse",
    "uniq",
    "mustUniq",
    "has",
    "mustHas",
    "without",
    "mustWithout",
    "compact",
    "mustCompact",
    "concat",
    "until",
    // Sprig dicts.
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "keys",
    "values",
    "pick",
    "omit",
    "pluck",
    "dig",
    "merge",
    "mustMerge",
    "mergeOverwrite",
    "mustMergeOverwrite",
    // Sprig numbers and types.
    "atoi",
    "int",
    "int64",
    "float64",
    "add",
    "add1",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "biggest",
    "min",
    "typeOf",
    "kindOf",
    "typeIs",
    "kindIs",
    "deepEqual",
];

/// Upstream functions sealbox does not implement, with the reason given at parse time.
const UNSUPPORTED: &[(&[&str], &str)] = &[
    (
        &["env", "expandenv", "getHostByName"],
        "removed from Sealed Secrets and ESO for security",
    ),
    (
        &[
            "htpasswd",
            "bcrypt",
            "genPrivateKey",
            "derivePassword",
            "buildCustomCert",
            "genCA",
            "genCAWithKey",
            "genSelfSignedCert",
            "genSelfSignedCertWithKey",
            "genSignedCert",
            "genSignedCertWithKey",
            "encryptAES",
            "decryptAES",
        ],
        "Sprig's crypto generators are not implemented; generate the value outside the template",
    ),
    (
        &[
            "randAlphaNum",
            "randAlpha",
            "randAscii",
            "randNumeric",
            "randBytes",
            "randInt",
            "uuidv4",
            "shuffle",
        ],
        "random values would change the Secret on every render; use an ESO Password generator",
    ),
    (
        &[
            "now",
            "date",
            "dateInZone",
            "date_in_zone",
            "dateModify",
            "date_modify",
            "mustDateModify",
            "must_date_modify",
            "ago",
            "duration",
            "durationRound",
            "htmlDate",
            "htmlDateInZone",
            "toDate",
            "mustToDate",
            "unixEpoch",
        ],
        "date functions are not implemented",
    ),
    (
        &[
            "pkcs12key",
            "pkcs12keyPass",
            "pkcs12cert",
            "pkcs12certPass",
            "pemToPkcs12",
            "pemToPkcs12Pass",
            "fullPemToPkcs12",
            "fullPemToPkcs12Pass",
            "pemTruststoreToPKCS12",
            "pemTruststoreToPKCS12Pass",
            "filterPEM",
            "filterCertChain",
            "certSANs",
            "jwkPublicKeyPem",
            "jwkPrivateKeyPem",
            "rsaDecrypt",
        ],
        "ESO's PKCS#12/PEM/JWK helpers are not implemented yet",
    ),
    (
        &[
            "semver",
            "semverCompare",
            "urlParse",
            "urlJoin",
            "base",
            "dir",
            "clean",
            "ext",
            "isAbs",
            "osBase",
            "osClean",
            "osDir",
            "osExt",
            "osIsAbs",
            "snakecase",
            "camelcase",
            "kebabcase",
            "swapcase",
            "wrap",
            "wrapWith",
            "initials",
            "abbrevboth",
            "seq",
            "untilStep",
            "add1f",
            "addf",
            "subf",
            "divf",
            "mulf",
            "maxf",
            "minf",
            "ceil",
            "floor",
            "round",
            "toDecimal",
            "slice",
            "mustSlice",
            "chunk",
            "mustChunk",
            "typeIsLike",
            "hello",
            "call",
        ],
        "not implemented yet",
    ),
];

/// Parse-time check: `Ok` when [`call`] knows the name, `Err(Some(why))` for a known but
/// unsupported upstream function, `Err(None)` for an unknown name.
pub(super) fn check(
    name: &str,
    eso_functions: bool,
) -> std::result::Result<(), Option<&'static str>> {
    if !eso_functions && ESO_ONLY.contains(&name) {
        return Err(None);
    }
    if SUPPORTED.contains(&name) {
        return Ok(());
    }
    Err(UNSUPPORTED
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, why)| *why))
}

/// Functions that modify their first argument in Go (maps are references there). The
/// executor writes the result back into that argument when it is a variable.
pub(super) fn mutates_first_arg(name: &str) -> bool {
    matches!(
        name,
        "set" | "unset" | "merge" | "mustMerge" | "mergeOverwrite" | "mustMergeOverwrite"
    )
}

pub(super) fn call(name: &str, args: Vec<Value>) -> Result<Value> {
    builtin::call(name, &args)
        .or_else(|| strings::call(name, &args))
        .or_else(|| collections::call(name, args))
        .unwrap_or_else(|| {
            Err(Fail::Call(format!(
                "internal: {name} has no implementation"
            )))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_name_is_implemented() {
        // `and`/`or` short-circuit, so the executor evaluates them itself.
        for name in SUPPORTED.iter().filter(|n| !matches!(**n, "and" | "or")) {
            if let Err(Fail::Call(m)) = call(name, vec![]) {
                assert!(!m.starts_with("internal"), "{name}: {m}");
            }
        }
    }

    #[test]
    fn supported_and_unsupported_do_not_overlap() {
        for (names, _) in UNSUPPORTED {
            for n in *names {
                assert!(!SUPPORTED.contains(n), "{n}");
            }
        }
    }
}
