//! `.sealboxignore`: paths `sealbox check` allows on purpose (test fixtures, TEST ONLY keys).
//! A small subset of `.gitignore`: one glob per line, `#` comments; `*` and `?` match within
//! one path component, `**` across components (`**/x`, `x/**`, `a/**/b`); a pattern with a `/`
//! (other than a trailing one) is relative to the file's directory, one without matches a
//! name at any depth; a trailing `/` matches directories only; a directory that matches allows
//! everything under it. No `!` negation and no `[…]` classes: such lines are ignored.

/// One pattern line.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    glob: String,
    /// Matched against the whole path from the ignore file's directory, not one name.
    anchored: bool,
    dir_only: bool,
}

/// The patterns of a `.sealboxignore` file.
pub fn parse(text: &str) -> Vec<Pattern> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter(|l| !l.contains('['))
        .map(|line| {
            let dir_only = line.ends_with('/');
            let line = line.trim_end_matches('/');
            let anchored = line.contains('/');
            Pattern {
                glob: line.trim_start_matches('/').to_owned(),
                anchored,
                dir_only,
            }
        })
        .filter(|p| !p.glob.is_empty())
        .collect()
}

/// Whether `rel` (a `/`-separated path relative to the ignore file's directory) or one of
/// its parent directories matches a pattern.
pub fn matches(patterns: &[Pattern], rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    (1..=parts.len()).any(|k| {
        let is_dir = k < parts.len();
        let prefix = parts[..k].join("/");
        patterns.iter().any(|p| {
            (is_dir || !p.dir_only)
                && if p.anchored {
                    glob(p.glob.as_bytes(), prefix.as_bytes())
                } else {
                    glob(p.glob.as_bytes(), parts[k - 1].as_bytes())
                }
        })
    })
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    match p {
        [] => s.is_empty(),
        // `**/`: zero or more whole directories.
        [b'*', b'*', b'/', rest @ ..] => {
            glob(rest, s)
                || s.iter()
                    .enumerate()
                    .any(|(i, &c)| c == b'/' && glob(rest, &s[i + 1..]))
        }
        [b'*', b'*', rest @ ..] => (0..=s.len()).any(|i| glob(rest, &s[i..])),
        [b'*', rest @ ..] => (0..=s.len())
            .take_while(|&i| i == 0 || s[i - 1] != b'/')
            .any(|i| glob(rest, &s[i..])),
        [b'?', rest @ ..] => matches!(s, [c, tail @ ..] if *c != b'/' && glob(rest, tail)),
        [c, rest @ ..] => matches!(s, [d, tail @ ..] if d == c && glob(rest, tail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(patterns: &str, path: &str) -> bool {
        matches(&parse(patterns), path)
    }

    #[test]
    fn gitignore_like_globs() {
        // a name at any depth, and everything under a matching directory
        assert!(m("testdata", "testdata/a/b.yaml"));
        assert!(m("testdata", "x/testdata/b.yaml"));
        assert!(m("testdata/", "x/testdata/b.yaml"));
        assert!(
            !m("testdata/", "x/testdata"),
            "a trailing / is for directories"
        );
        assert!(m("*.key", "a/b/c.key"));
        assert!(!m("*.key", "a/b/c.key.txt"));
        assert!(m("fixture-?.yaml", "fixture-1.yaml"));
        assert!(!m("fixture-?.yaml", "fixture-12.yaml"));
        // anchored: relative to the ignore file's directory
        assert!(m("/tests/data", "tests/data/x"));
        assert!(m("tests/*.yaml", "tests/a.yaml"));
        assert!(!m("tests/*.yaml", "tests/sub/a.yaml"));
        assert!(!m("tests/*.yaml", "x/tests/a.yaml"));
        assert!(m("tests/**/*.yaml", "tests/a.yaml"));
        assert!(m("tests/**/*.yaml", "tests/sub/deep/a.yaml"));
        assert!(m("**/keys/*.pem", "a/keys/k.pem"));
        assert!(m("**/keys/*.pem", "keys/k.pem"));
        assert!(m("tests/**", "tests/a/b"));
        // comments, blanks and the unsupported forms
        assert!(!m("# tests\n\n!tests\n[ab].yaml\n", "tests/a.yaml"));
        assert!(!m("", "a"));
    }
}
