//! Indentation settings of the YAML and JSON stores (`.sops.yaml` `stores:`, `--indent`).

use super::error::Error;
use super::format::Format;

/// How the YAML and JSON stores indent what they write: `.sops.yaml`'s `stores:` section
/// (`yaml.indent`, `json.indent`, `json_binary.indent`; `dotenv` and `ini` have no settings)
/// or `--indent N`, which sets all three (spec `sops.md` §9, sops `config/config.go:
/// StoresConfig`). Values are sops's: YAML 0 is the default 4 (negative is refused), JSON -1 is
/// a tab (below -1 is refused), JSON n ≥ 0 is n spaces. Only the store that writes checks its
/// value, as in sops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub yaml_indent: i64,
    pub json_indent: i64,
    pub json_binary_indent: i64,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout {
            yaml_indent: 0,
            json_indent: -1,
            json_binary_indent: -1,
        }
    }
}

impl Layout {
    /// `--indent N`: the same for every store.
    pub fn with_indent(self, indent: i64) -> Layout {
        Layout {
            yaml_indent: indent,
            json_indent: indent,
            json_binary_indent: indent,
        }
    }

    /// Refuses an indentation sops refuses for writing `format` (a negative YAML indent, a
    /// JSON one below -1); other stores' settings are not looked at.
    pub fn check(&self, format: Format) -> Result<(), Error> {
        match format {
            Format::Yaml => self.yaml().map(drop),
            Format::Json | Format::Binary => self.json(format).map(drop),
            Format::Dotenv | Format::Ini => Ok(()),
        }
    }

    /// Spaces per YAML level (0 = yaml.v3's default).
    pub(crate) fn yaml(&self) -> Result<usize, Error> {
        usize::try_from(self.yaml_indent)
            .map_err(|_| Error::Store("YAML Negative indentation not accepted".into()))
    }

    /// The JSON indentation for `format` (`None`: a tab).
    pub(crate) fn json(&self, format: Format) -> Result<Option<usize>, Error> {
        let indent = if format == Format::Binary {
            self.json_binary_indent
        } else {
            self.json_indent
        };
        match indent {
            -1 => Ok(None),
            n if n < -1 => Err(Error::Store(
                "JSON Indentation parameter smaller than -1 is not accepted".into(),
            )),
            n => Ok(Some(n as usize)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_sops_defaults_and_limits() {
        let d = Layout::default();
        assert_eq!(d.yaml().unwrap(), 0);
        assert_eq!(d.json(Format::Json).unwrap(), None);
        let l = d.with_indent(2);
        assert_eq!(
            (l.yaml().unwrap(), l.json(Format::Binary).unwrap()),
            (2, Some(2))
        );
        let bad = d.with_indent(-2);
        assert!(bad.yaml().is_err() && bad.json(Format::Json).is_err());
        // -1 is the tab for JSON but a negative indent for YAML.
        let tab = d.with_indent(-1);
        assert_eq!(tab.json(Format::Json).unwrap(), None);
        assert!(tab.yaml().is_err());
        assert!(tab.check(Format::Yaml).is_err());
        assert!(tab.check(Format::Json).is_ok() && bad.check(Format::Dotenv).is_ok());
    }
}
