//! No module imports a module that imports it back, in any crate. Edges are the `crate::`,
//! `super::` and `self::` paths a file names outside its `#[cfg(test)]` items (a `mod x;`
//! declaration is not an import); a path goes to the deepest module file it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sealbox_tests::root;

/// Module path (`sops::yaml`, `` for the crate root) → source file.
fn modules(src: &Path) -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "bin") {
                    stack.push(path);
                }
                continue;
            }
            // A binary beside a library is its own crate: it sees only the library's API.
            let binary_root = path.file_name().is_some_and(|n| n == "main.rs")
                && path.parent() == Some(src)
                && src.join("lib.rs").exists();
            if path.extension().is_none_or(|e| e != "rs") || binary_root {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let last = parts.last().unwrap().as_str();
            if last == "mod" || ((last == "lib" || last == "main") && parts.len() == 1) {
                parts.pop();
            }
            found.insert(parts.join("::"), path);
        }
    }
    found
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(path: &str) -> Vec<String> {
    let path: String = path.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = path.find('{') else {
        return vec![path];
    };
    let Some(close) = path.rfind('}').filter(|c| *c > open) else {
        return vec![path];
    };
    let (prefix, inner) = (&path[..open], &path[open + 1..close]);
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(&format!("{prefix}{p}")))
        .collect()
}

/// The paths beginning with `crate`, `super` or `self` in `code`, wherever they stand (a
/// `use` at the top, inside a function, after an attribute, or inline in an expression);
/// `a::{b, c::{d}}` groups are expanded.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for anchor in ["crate::", "super::", "self::"] {
        for (at, _) in code.match_indices(anchor) {
            let before = at.checked_sub(1).map(|i| bytes[i] as char);
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
                continue;
            }
            let end = code[at..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .map_or(code.len(), |e| at + e);
            if code[end..].starts_with('{') {
                let mut depth = 0usize;
                let close = code[end..].char_indices().find_map(|(i, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    (depth == 0).then_some(end + i)
                });
                if let Some(close) = close {
                    out.extend(expand(&code[at..=close]));
                    continue;
                }
            }
            out.push(code[at..end].trim_end_matches(':').to_owned());
        }
    }
    out
}

/// The module `path` (as written in module `from`) lands in, if it is another module file.
fn target(path: &str, from: &str, known: &BTreeMap<String, PathBuf>) -> Option<String> {
    let mut segs: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if from.is_empty() {
        vec![]
    } else {
        from.split("::").collect()
    };
    match segs.first().copied() {
        Some("crate") => base.clear(),
        Some("self") => {}
        Some("super") => {
            base.pop();
        }
        _ => return None,
    }
    segs.remove(0);
    while segs.first() == Some(&"super") {
        base.pop();
        segs.remove(0);
    }
    let mut full: Vec<&str> = base;
    full.extend(segs);
    (0..=full.len())
        .rev()
        .map(|n| full[..n].join("::"))
        .find(|m| known.contains_key(m))
        .filter(|m| m != from)
}

/// `text` without the items marked `#[cfg(test)]`: an inline `mod … { … }` is cut to its
/// closing brace, any other item to the end of its line.
fn without_test_code(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let line_end = item.find('\n').map_or(item.len(), |e| e + 1);
        let next_line = item[line_end..].trim_start();
        let block = next_line.starts_with("mod ") && {
            let first_line = next_line.lines().next().unwrap_or_default();
            first_line.trim_end().ends_with('{')
        };
        if !block {
            let after = &item[line_end..];
            let skip = after.find('\n').map_or(after.len(), |e| e + 1);
            rest = &after[skip..];
            continue;
        }
        let open = line_end + item[line_end..].find('{').unwrap();
        let mut depth = 0usize;
        let mut end = item.len();
        for (i, c) in item[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The modules directly below `module`.
fn children(module: &str, known: &BTreeMap<String, PathBuf>) -> Vec<String> {
    known
        .keys()
        .filter(|k| match module {
            "" => !k.is_empty() && !k.contains("::"),
            m => k
                .strip_prefix(m)
                .and_then(|rest| rest.strip_prefix("::"))
                .is_some_and(|rest| !rest.contains("::")),
        })
        .cloned()
        .collect()
}

/// Whether `code` names `child::…` as a path of its own (not `other::child::…`).
fn names_child(code: &str, child: &str) -> bool {
    let needle = format!("{child}::");
    code.match_indices(&needle).any(|(at, _)| {
        let before = &code[..at];
        !before.ends_with("::")
            && !before
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// Module → the modules it imports.
fn edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let known = modules(src);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &known {
        let text = std::fs::read_to_string(file).unwrap();
        let code: String = without_test_code(&text)
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for path in paths(&code) {
            if let Some(to) = target(&path, module, &known) {
                edges.entry(module.clone()).or_default().insert(to);
            }
        }
        // A child module is also reached without a prefix: `yaml::load(…)`, `use yaml::X`.
        for child in children(module, &known) {
            if names_child(&code, child.rsplit("::").next().unwrap()) {
                edges.entry(module.clone()).or_default().insert(child);
            }
        }
    }
    edges
}

fn cycles_in(src: &Path) -> Vec<String> {
    let edges = edges(src);
    // Every edge that lies on a cycle: `a → b` where b reaches a.
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_owned()];
        while let Some(m) = stack.pop() {
            if m == to {
                return true;
            }
            if seen.insert(m.clone()) {
                stack.extend(edges.get(&m).into_iter().flatten().cloned());
            }
        }
        false
    };
    let name = |m: &str| {
        if m.is_empty() {
            "(root)".to_owned()
        } else {
            m.to_owned()
        }
    };
    let mut found = Vec::new();
    for (from, tos) in &edges {
        for to in tos {
            if reaches(to, from) {
                found.push(format!("{} → {}", name(from), name(to)));
            }
        }
    }
    found
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let mut report = Vec::new();
    for krate in ["crypto", "cli", "controller"] {
        for edge in cycles_in(&root().join(krate).join("src")) {
            report.push(format!("{krate}: {edge}"));
        }
    }
    assert!(
        report.is_empty(),
        "edges on import cycles:\n{}",
        report.join("\n")
    );
}

/// The CLI's layers (DESIGN.md): command modules own their arguments and depend only on
/// shared modules; the command lines (`cli.rs`, the kubeseal and sops drop-ins, `main.rs`)
/// compose them; shared modules depend on neither.
#[test]
fn cli_command_modules_depend_only_on_shared_modules() {
    let commands = [
        "age",
        "audit",
        "check",
        "external::refresh",
        "sealed::keys",
        "sealed::reencrypt",
        "sealed::seal",
        "sealed::unseal",
        "sealed::validate",
        "sops::change",
        "sops::exec",
        "sops::groups",
        "sops::tree",
    ];
    let command_lines = ["", "cli", "external", "sealed::kubeseal", "sops"];
    let src = root().join("cli/src");
    let known = modules(&src);
    for module in commands.iter().chain(&command_lines) {
        assert!(
            known.contains_key(*module),
            "no module {module:?}: update this list"
        );
    }
    let mut wrong = Vec::new();
    for (from, tos) in edges(&src) {
        if command_lines.contains(&from.as_str()) {
            continue;
        }
        for to in tos {
            let upward = command_lines.contains(&to.as_str()) || commands.contains(&to.as_str());
            if upward {
                wrong.push(format!("{from} → {to}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checker_sees_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "mod c;\nfn g() {\n    #[allow(unused)]\n    use crate::{b::{x, y::Z}};\n}\n",
    )
    .unwrap();
    std::fs::write(src.join("a/c.rs"), "fn f() { super::g() }\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "#[cfg(test)]\nmod tests { use crate::a::h; }\npub fn x() { crate::a::c::f() }\n#[cfg(test)]\nuse crate::a::h;\n",
    )
    .unwrap();
    // b → a::c → a → b is a cycle; test code is not counted.
    let found = cycles_in(src);
    assert_eq!(found, vec!["a → b", "a::c → a", "b → a::c"], "{found:?}");
    std::fs::write(src.join("a/c.rs"), "fn f() {}\n").unwrap();
    assert!(cycles_in(src).is_empty());
    // A parent naming its child without a prefix, and the child using the parent's items.
    std::fs::write(src.join("a/mod.rs"), "mod c;\npub fn g() { c::f() }\n").unwrap();
    std::fs::write(src.join("a/c.rs"), "use super::g;\npub fn f() {}\n").unwrap();
    assert_eq!(cycles_in(src), vec!["a → a::c", "a::c → a"]);
}
