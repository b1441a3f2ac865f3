//! Encrypting and decrypting whole files, and the reading and writing every command shares.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use sealbox_crypto::sops::keys::Identity;
use sealbox_crypto::sops::{self, EncryptSettings, Format, Layout, OpenFile, Selector, Value};

use super::flags::{DecryptFlags, EncryptFlags, IoFlags};
use super::identities::age_identities;
use crate::exit::{
    COULD_NOT_READ_INPUT_FILE, ERROR_CONFLICTING_PARAMETERS, ERROR_DUMPING_TREE, ERROR_GENERIC,
    Exit, INVALID_TREE_PATH_FORMAT, NO_FILE_SPECIFIED,
};
use crate::io::{self, Readers};
use crate::sopsconfig;
use sealbox_crypto::sealed::manifest::{MAX_SECRET_SIZE, too_big_warning};

/// sops's global `--indent N` (`sops --indent 2 encrypt f`, `sops -e --indent 2 f`), taken out
/// of the drop-in's command line before the command is parsed.
static GLOBAL_INDENT: OnceLock<i64> = OnceLock::new();

pub(super) fn set_global_indent(indent: i64) {
    let _ = GLOBAL_INDENT.set(indent);
}

/// How `format` is to be indented: the `stores:` section of the `.sops.yaml` in use (`config`,
/// else `SOPS_CONFIG`, else found upwards), then `--indent` (`indent`, else the global one),
/// as sops's `outputStore` does. An indentation sops refuses for `format` is refused here,
/// before anything is written.
pub(super) fn layout(config: Option<&Path>, indent: Option<i64>, format: Format) -> Result<Layout> {
    let explicit = config
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("SOPS_CONFIG").map(PathBuf::from));
    let mut layout = match sopsconfig::find(explicit.as_deref()) {
        Some(path) => sopsconfig::layout(&path)?,
        None => Layout::default(),
    };
    if let Some(indent) = indent.or_else(|| GLOBAL_INDENT.get().copied()) {
        layout = layout.with_indent(indent);
    }
    layout
        .check(format)
        .map_err(|e| Exit::new(ERROR_DUMPING_TREE, format!("Could not marshal tree: {e}")))?;
    Ok(layout)
}

pub fn encrypt(flags: &IoFlags, how: &EncryptFlags, mode: Mode) -> Result<()> {
    let (bytes, format) = read_input(flags)?;
    let mut settings = encrypt_settings(flags, how)?;
    let output = flags.output_type.map_or(format, Into::into);
    settings.layout = layout(flags.config.as_deref(), flags.indent, output)?;
    let with_context = |e: sops::Error| {
        let hint = format_hint(flags, &e, format);
        let error = anyhow::Error::new(e).context(source_name(flags));
        match hint {
            Some(hint) => error.context(hint),
            None => error,
        }
    };
    let branches = sops::load_plain(format, &bytes).map_err(with_context)?;
    // The tree holds everything now: the text goes before encryption makes more copies.
    drop(bytes);
    let secrets = (mode == Mode::Native)
        .then(|| kubernetes_secrets(format, &branches))
        .flatten();
    if settings.selector.is_none() && secrets.is_some() {
        // GitOps guides keep a Secret's apiVersion/kind/metadata readable (sops itself would
        // encrypt them too, so the drop-in mode does not do this).
        settings.selector = Some(Selector::EncryptedRegex(Selector::compile(
            KUBERNETES_SECRET_FIELDS,
        )?));
    }
    let out = sops::encrypt_branches(branches, format, output, &settings, SystemTime::now())
        .map_err(with_context)?;
    // The API server would refuse it: said, but the file is still written.
    for (secret, size) in secrets.iter().flatten() {
        if *size > MAX_SECRET_SIZE {
            eprintln!("{}", too_big_warning(secret, *size));
        }
    }
    write(flags, &out, Readers::Anyone)
}

/// Which command line is running: sealbox's own, or the sops drop-in (which behaves exactly
/// like sops).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Native,
    Sops,
}

/// The selector `sealbox encrypt` uses for Kubernetes Secret manifests with no other selector.
const KUBERNETES_SECRET_FIELDS: &str = "^(data|stringData)$";

/// When every document is a Kubernetes Secret (`kind: Secret` at the top level): each one's
/// `namespace/name` and data size as the API server counts it (`data` decoded, `stringData`
/// replacing `data` items of the same name).
fn kubernetes_secrets(format: Format, docs: &[sops::Branch]) -> Option<Vec<(String, usize)>> {
    if !matches!(format, Format::Yaml | Format::Json) {
        return None;
    }
    let is_secret = |doc: &sops::Branch| {
        matches!(
            sops::lookup(doc, &[sops::Step::Key("kind".into())]),
            Some(Value::Scalar(sops::Scalar::Str(kind))) if kind == b"Secret"
        )
    };
    if docs.is_empty() || !docs.iter().all(is_secret) {
        return None;
    }
    Some(
        docs.iter()
            .map(|doc| (secret_ref(doc), secret_size(doc)))
            .collect(),
    )
}

/// `namespace/name` (just `name` without a namespace), as `sealbox seal` names a Secret.
fn secret_ref(doc: &sops::Branch) -> String {
    let field = |name: &str| match sops::lookup(
        doc,
        &[
            sops::Step::Key("metadata".into()),
            sops::Step::Key(name.into()),
        ],
    ) {
        Some(Value::Scalar(s)) => String::from_utf8_lossy(&s.to_bytes()).into_owned(),
        _ => String::new(),
    };
    let (namespace, name) = (field("namespace"), field("name"));
    let name = if name.is_empty() {
        "<unnamed>".to_owned()
    } else {
        name
    };
    if namespace.is_empty() {
        name
    } else {
        format!("{namespace}/{name}")
    }
}

fn secret_size(doc: &sops::Branch) -> usize {
    let items = |field: &str| match sops::lookup(doc, &[sops::Step::Key(field.into())]) {
        Some(Value::Map(branch)) => branch
            .iter()
            .filter_map(|entry| match entry {
                sops::Entry::Pair(item, Value::Scalar(value)) => Some((item.as_str(), value)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let string_data = items("stringData");
    let data: usize = items("data")
        .into_iter()
        .filter(|(item, _)| !string_data.iter().any(|(s, _)| s == item))
        .map(|(_, value)| match value {
            sops::Scalar::Str(b64) => decoded_len(b64),
            other => decoded_len(&other.to_bytes()),
        })
        .sum();
    data + string_data
        .iter()
        .map(|(_, value)| match value {
            sops::Scalar::Str(text) => text.len(),
            other => other.to_bytes().len(),
        })
        .sum::<usize>()
}

/// The length base64 `text` decodes to (whitespace ignored), without decoding it.
fn decoded_len(text: &[u8]) -> usize {
    let digits = text.iter().filter(|b| !b.is_ascii_whitespace()).count();
    let padding = text
        .iter()
        .rev()
        .filter(|b| !b.is_ascii_whitespace())
        .take_while(|b| **b == b'=')
        .count();
    (digits * 3 / 4).saturating_sub(padding)
}

/// Recipients, threshold and selector: flags first, then the matching `.sops.yaml` rule.
fn encrypt_settings(flags: &IoFlags, how: &EncryptFlags) -> Result<EncryptSettings> {
    let name = flags.filename_override.clone().or_else(|| {
        flags
            .file
            .as_ref()
            .map(|f| f.to_string_lossy().into_owned())
    });
    let rule = match (sopsconfig::find(flags.config.as_deref()), name) {
        (Some(config), Some(name)) => sopsconfig::matching_rule(&config, &name)?,
        _ => None,
    };
    let flag_recipients: Vec<String> = how
        .age
        .iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    let groups = match (&rule, flag_recipients.is_empty()) {
        (_, false) => vec![flag_recipients],
        (Some(rule), true) => rule.groups(),
        (None, true) => Vec::new(),
    };
    if let Some(rule) = &rule
        && how.age.is_empty()
    {
        let kinds = rule.foreign_kinds();
        if !kinds.is_empty() {
            return Err(Exit::new(
                ERROR_GENERIC,
                format!(
                    "the matching .sops.yaml rule also names {} keys; sealbox encrypts for age only (PGP is not supported, age only), so their holders could not decrypt: use sops for this file or give --age",
                    kinds.join(", ")
                ),
            )
            .into());
        }
    }
    if groups.iter().all(|g| g.is_empty()) {
        return Err(Exit::new(
            ERROR_GENERIC,
            "no age recipients: pass --age, set SOPS_AGE_RECIPIENTS, or add a .sops.yaml creation rule with age keys",
        )
        .into());
    }
    Ok(EncryptSettings {
        groups,
        shamir_threshold: how
            .shamir_threshold
            .or(rule.as_ref().map(|r| r.shamir_threshold))
            .unwrap_or(0),
        selector: match (selector(flags, how)?, &rule) {
            (Some(given), _) => Some(given),
            (None, Some(rule)) => rule.selector().with_context(|| source_name(flags))?,
            (None, None) => None,
        },
        mac_only_encrypted: how.mac_only_encrypted
            || rule.as_ref().is_some_and(|r| r.mac_only_encrypted),
        layout: Layout::default(),
    })
}

pub fn decrypt(flags: &IoFlags, how: &DecryptFlags) -> Result<()> {
    let (bytes, format) = read_input(flags)?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Exit::new(
            COULD_NOT_READ_INPUT_FILE,
            format!("{}: not a sops file (not UTF-8 text)", source_name(flags)),
        )
    })?;
    let out_format = flags.output_type.map_or(format, Into::into);
    let layout = layout(flags.config.as_deref(), flags.indent, out_format)?;
    let mut file =
        open_with(text, format, &source_name(flags), how.ignore_mac, false).map_err(|e| {
            let hint = e
                .downcast_ref::<sops::Error>()
                .and_then(|cause| format_hint(flags, cause, format));
            match hint {
                Some(hint) => e.context(hint),
                None => e,
            }
        })?;
    // The tree holds everything now.
    drop(bytes);
    file.layout = layout;
    let out = match &how.extract {
        Some(path) => extract(&file.branches, path, out_format, &layout)?,
        None => file.plain(out_format)?,
    };
    write(flags, &out, Readers::Owner)
}

/// Opens a sops file with the age identities from the environment, as every command that
/// decrypts does. Like the sops CLI (not its library), a file without `version` is refused.
pub(super) fn open(text: &str, format: Format, source: &str, ignore_mac: bool) -> Result<OpenFile> {
    open_with(text, format, source, ignore_mac, true)
}

/// [`open`] with identities loaded once for many files ([`age_identities`]'s result): what a
/// tree walk uses, so `SOPS_AGE_KEY_CMD` runs once, not once per file.
pub(super) fn open_for_change(
    text: &str,
    format: Format,
    source: &str,
    (identities, notes): &(Vec<Identity>, Vec<String>),
) -> Result<OpenFile> {
    open_checked(text, format, source, false, true, identities, notes)
}

/// [`open`]; without `to_change`, no IVs are remembered (see [`OpenFile::open_to_read`]).
fn open_with(
    text: &str,
    format: Format,
    source: &str,
    ignore_mac: bool,
    to_change: bool,
) -> Result<OpenFile> {
    let (identities, notes) = age_identities();
    open_checked(
        text,
        format,
        source,
        ignore_mac,
        to_change,
        &identities,
        &notes,
    )
}

fn open_checked(
    text: &str,
    format: Format,
    source: &str,
    ignore_mac: bool,
    to_change: bool,
    identities: &[Identity],
    notes: &[String],
) -> Result<OpenFile> {
    let opened = if to_change {
        OpenFile::open(format, text, identities, ignore_mac)
    } else {
        OpenFile::open_to_read(format, text, identities, ignore_mac)
    };
    let mut file = opened.map_err(|e| {
        let hint = if matches!(
            e,
            sops::Error::NoUsableKey { .. } | sops::Error::ThresholdNotMet { .. }
        ) {
            format!("; age identities looked for in: {}", notes.join(", "))
        } else {
            String::new()
        };
        anyhow::Error::new(e).context(format!("{source}{hint}"))
    })?;
    if file.metadata.version.is_empty() {
        return Err(Exit::new(
            ERROR_GENERIC,
            format!("{source}: Version string empty: the sops metadata has no version"),
        )
        .into());
    }
    // Commands that write the file back (set, edit, rotate, …) lay it out as `stores:` says.
    if to_change {
        file.layout = layout(None, None, format)?;
    }
    Ok(file)
}

fn extract(
    branches: &[sops::Branch],
    path: &str,
    format: Format,
    layout: &Layout,
) -> Result<Vec<u8>> {
    let steps = sops::parse_path(path)?;
    let value = branches
        .first()
        .and_then(|b| sops::lookup(b, &steps))
        .ok_or_else(|| {
            Exit::new(
                INVALID_TREE_PATH_FORMAT,
                format!("component {path} not found"),
            )
        })?;
    Ok(match value {
        // A leaf prints raw, without a newline.
        Value::Scalar(s) => match s {
            sops::Scalar::Bool(true) => b"true".to_vec(),
            sops::Scalar::Bool(false) => b"false".to_vec(),
            other => other.to_bytes(),
        },
        Value::Map(branch) => sops::emit_plain_with(format, std::slice::from_ref(branch), layout)?,
        _ => bail!("{path}: only a value or a mapping can be extracted"),
    })
}

/// The selector the flags give, if any; at most one may be given.
fn selector(flags: &IoFlags, how: &EncryptFlags) -> Result<Option<Selector>> {
    let regex =
        |pattern: &String, make: fn(regex::Regex) -> Selector| Selector::compile(pattern).map(make);
    let given: Vec<Result<Selector, sops::Error>> = [
        how.unencrypted_suffix
            .clone()
            .map(|s| Ok(Selector::UnencryptedSuffix(s))),
        how.encrypted_suffix
            .clone()
            .map(|s| Ok(Selector::EncryptedSuffix(s))),
        how.unencrypted_regex
            .as_ref()
            .map(|r| regex(r, Selector::UnencryptedRegex)),
        how.encrypted_regex
            .as_ref()
            .map(|r| regex(r, Selector::EncryptedRegex)),
        how.unencrypted_comment_regex
            .as_ref()
            .map(|r| regex(r, Selector::UnencryptedCommentRegex)),
        how.encrypted_comment_regex
            .as_ref()
            .map(|r| regex(r, Selector::EncryptedCommentRegex)),
    ]
    .into_iter()
    .flatten()
    .collect();
    match given.len() {
        0 => Ok(None),
        1 => Ok(given
            .into_iter()
            .next()
            .transpose()
            .with_context(|| source_name(flags))?),
        _ => Err(Exit::new(
            ERROR_CONFLICTING_PARAMETERS,
            "only one of the --*-suffix / --*-regex selectors may be given",
        )
        .into()),
    }
}

fn source_name(flags: &IoFlags) -> String {
    flags
        .file
        .as_ref()
        .map_or("stdin".to_owned(), |p| p.display().to_string())
}

/// When the input did not parse in the format its name picked (sops's rule), says so and how
/// to pick another: the parser's own message cannot know the name was the reason.
fn format_hint(flags: &IoFlags, error: &sops::Error, format: Format) -> Option<String> {
    let unparsable = matches!(error, sops::Error::Store(_) | sops::Error::Yaml(_));
    (unparsable && flags.input_type.is_none()).then(|| {
        format!(
            "read as {} because of its name (--input-type yaml|json|dotenv|ini|binary reads it as another format)",
            format!("{format:?}").to_lowercase()
        )
    })
}

fn read_input(flags: &IoFlags) -> Result<(zeroize::Zeroizing<Vec<u8>>, Format)> {
    if flags.in_place && flags.output.is_some() {
        return Err(Exit::new(
            ERROR_CONFLICTING_PARAMETERS,
            "--in-place and --output cannot be used together",
        )
        .into());
    }
    let format = match (flags.input_type, &flags.filename_override, &flags.file) {
        (Some(t), _, _) => t.into(),
        (None, Some(name), _) => Format::from_path(name),
        (None, None, Some(file)) => Format::from_path(&file.to_string_lossy()),
        (None, None, None) => Format::Binary,
    };
    let bytes = match &flags.file {
        Some(file) if !file.exists() => {
            return Err(Exit::new(
                NO_FILE_SPECIFIED,
                format!("{}: file does not exist", file.display()),
            )
            .into());
        }
        Some(file) => io::read_bytes(Some(file), "FILE")?,
        None if flags.in_place => bail!("--in-place needs a file"),
        None => io::read_bytes(None, "stdin")?,
    };
    Ok((bytes, format))
}

fn write(flags: &IoFlags, bytes: &[u8], readers: Readers) -> Result<()> {
    let target: Option<&Path> = match (&flags.output, flags.in_place) {
        (Some(out), _) => Some(out),
        (None, true) => flags.file.as_deref(),
        (None, false) => None,
    };
    io::write_output(target, bytes, readers)
}
