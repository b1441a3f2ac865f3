//! The docs say what the binary does: the documented exit codes are exactly the code's table.

use std::collections::BTreeMap;

use sealbox_tests::root;

/// `NAME → code` from `pub const NAME: u8 = CODE;` lines.
fn code_table() -> BTreeMap<String, u8> {
    let source = std::fs::read_to_string(root().join("cli/src/exit.rs")).unwrap();
    source
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("pub const ")?;
            let (name, value) = rest.split_once(": u8 = ")?;
            Some((name.to_owned(), value.trim_end_matches(';').parse().ok()?))
        })
        .collect()
}

/// `NAME → code` from the rows of docs/exit-codes.md that name a constant.
fn documented_table() -> BTreeMap<String, u8> {
    let doc = std::fs::read_to_string(root().join("docs/exit-codes.md")).unwrap();
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let code = cells.get(1)?.parse().ok()?;
            let name = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_owned(), code))
        })
        .collect()
}

#[test]
fn documented_exit_codes_are_the_codes_table() {
    let code = code_table();
    assert!(
        code.len() >= 10,
        "read the table of cli/src/exit.rs: {code:?}"
    );
    assert_eq!(documented_table(), code);
}
