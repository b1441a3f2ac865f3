//! What the category modules hand back to the report: [`Finding`]s in a [`Category`], and
//! the other facts of a file ([`FileAudit`]). A leaf: the category modules and the report
//! both build on it.

use serde_json::{Value, json};

/// What a finding is about; its name is the `category` of JSON findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    /// A plain Secret, a private key, or anything else `sealbox check` fails on.
    Plaintext,
    /// A SealedSecret that opens only with a key older than the newest given.
    SealedOldKey,
    /// A SealedSecret (some item of it) that no given key opens.
    SealedNoKey,
    /// A SOPS file whose age recipients differ from its creation rule's.
    SopsRecipients,
    /// A SOPS file last modified before `--older-than`.
    SopsStale,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::Plaintext,
        Category::SealedOldKey,
        Category::SealedNoKey,
        Category::SopsRecipients,
        Category::SopsStale,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Category::Plaintext => "plaintext",
            Category::SealedOldKey => "sealed-old-key",
            Category::SealedNoKey => "sealed-no-key",
            Category::SopsRecipients => "sops-recipients",
            Category::SopsStale => "sops-stale",
        }
    }
}

/// One thing that needs attention: a sentence (never a value of the file) and facts for
/// automation.
pub struct Finding {
    pub category: Category,
    pub message: String,
    pub fields: serde_json::Map<String, Value>,
}

impl Finding {
    pub fn new(category: Category, message: impl Into<String>) -> Finding {
        Finding {
            category,
            message: message.into(),
            fields: Default::default(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Finding {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    pub fn json(&self) -> Value {
        let mut out = serde_json::Map::new();
        out.insert("category".into(), json!(self.category.name()));
        out.insert("message".into(), json!(self.message));
        out.extend(self.fields.clone());
        Value::Object(out)
    }
}

/// What one file gave: its findings and what else is worth saying (SealedSecrets and the keys
/// that open them).
#[derive(Default)]
pub struct FileAudit {
    pub findings: Vec<Finding>,
    /// JSON facts about the file that are not findings.
    pub facts: serde_json::Map<String, Value>,
    /// SealedSecrets that could not be checked (no --keys).
    pub unchecked_sealed: usize,
}
