//! What re-keying one SOPS file changes, decided from its recipients alone (no file, no key):
//! [`rotate`] for `rotate` (the file's recipients, `--add-age` added to the first key group,
//! `--rm-age` removed from every group, a new data key) and [`updatekeys`] for `updatekeys`
//! (the creation rule's recipients, the same data key). The [`Rekey`] also says which
//! recipients that adds and removes, for the report and `--dry-run`.
//!
//! ```text
//! let plan = rekey::updatekeys(&file.recipient_groups(), file.metadata.shamir_threshold, rule.groups(), rule.shamir_threshold);
//! if plan.is_noop() { /* "already up to date" */ }
//! ```

/// The recipients and threshold a file gets, and how they differ from what it has.
#[derive(Debug, PartialEq, Eq)]
pub struct Rekey {
    /// age recipients per key group, as the file will have them.
    pub groups: Vec<Vec<String>>,
    /// The Shamir threshold the file will have (0 with fewer than two groups).
    pub threshold: usize,
    /// Recipients in no group before, in some group after.
    pub added: Vec<String>,
    /// Recipients in some group before, in no group after.
    pub removed: Vec<String>,
    /// Nothing about the key groups changes (the groups, their order, the threshold).
    same_keys: bool,
}

impl Rekey {
    fn new(current: &[Vec<String>], current_threshold: usize, groups: Vec<Vec<String>>) -> Rekey {
        let threshold = if groups.len() < 2 {
            0
        } else {
            current_threshold.min(groups.len())
        };
        let before: Vec<&String> = current.iter().flatten().collect();
        let after: Vec<&String> = groups.iter().flatten().collect();
        let added = unique(
            after
                .iter()
                .filter(|r| !before.contains(r))
                .map(|r| (*r).clone()),
        );
        let removed = unique(
            before
                .iter()
                .filter(|r| !after.contains(r))
                .map(|r| (*r).clone()),
        );
        let same_keys = current == groups.as_slice() && current_threshold == threshold;
        Rekey {
            groups,
            threshold,
            added,
            removed,
            same_keys,
        }
    }

    /// `updatekeys` has nothing to do: the file already has exactly these key groups.
    pub fn is_noop(&self) -> bool {
        self.same_keys
    }

    /// No recipient would be left to open the file.
    pub fn locks_everyone_out(&self) -> bool {
        self.groups.iter().all(Vec::is_empty)
    }

    /// `+age1… -age1…`, or what else changes when no recipient does.
    pub fn summary(&self) -> String {
        let words: Vec<String> = self
            .added
            .iter()
            .map(|r| format!("+{r}"))
            .chain(self.removed.iter().map(|r| format!("-{r}")))
            .collect();
        if !words.is_empty() {
            words.join(" ")
        } else if self.same_keys {
            "same recipients".to_owned()
        } else {
            "same recipients, key groups or threshold changed".to_owned()
        }
    }
}

/// `rotate`: the file's groups with `add` appended to the first and `rm` removed from all
/// (spec `sops.md` §10), each recipient once per group; the file's threshold.
pub fn rotate(current: &[Vec<String>], threshold: usize, add: &[String], rm: &[String]) -> Rekey {
    let mut groups = current.to_vec();
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    groups[0].extend(add.iter().map(|r| r.trim().to_owned()));
    let rm: Vec<&str> = rm.iter().map(|r| r.trim()).collect();
    let groups = groups
        .into_iter()
        .map(|group| unique(group.into_iter().filter(|r| !rm.contains(&r.as_str()))))
        .collect();
    Rekey::new(current, threshold, groups)
}

/// `updatekeys`: the rule's groups; the rule's threshold, else the file's, clamped to the
/// number of groups as sops does (spec `sops.md` §7.3).
pub fn updatekeys(
    current: &[Vec<String>],
    current_threshold: usize,
    wanted: Vec<Vec<String>>,
    rule_threshold: usize,
) -> Rekey {
    let mut plan = Rekey::new(current, current_threshold, wanted);
    if rule_threshold != 0 && plan.groups.len() >= 2 {
        plan.threshold = rule_threshold;
        plan.same_keys = current == plan.groups.as_slice() && current_threshold == rule_threshold;
    }
    plan
}

fn unique(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(groups: &[&[&str]]) -> Vec<Vec<String>> {
        groups
            .iter()
            .map(|g| g.iter().map(|r| r.to_string()).collect())
            .collect()
    }

    fn s(items: &[&str]) -> Vec<String> {
        items.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn rotate_adds_to_the_first_group_and_removes_from_every_group() {
        let plan = rotate(&g(&[&["a", "b"], &["c", "b"]]), 2, &s(&[" d"]), &s(&["b"]));
        assert_eq!(plan.groups, g(&[&["a", "d"], &["c"]]));
        assert_eq!((plan.added, plan.removed), (s(&["d"]), s(&["b"])));
        assert_eq!(plan.threshold, 2);
    }

    #[test]
    fn rotate_adding_a_recipient_twice_keeps_it_once() {
        let plan = rotate(&g(&[&["a", "new"]]), 0, &s(&["new"]), &[]);
        assert_eq!(plan.groups, g(&[&["a", "new"]]));
        assert!(plan.added.is_empty() && plan.removed.is_empty());
        assert_eq!(plan.summary(), "same recipients");
    }

    #[test]
    fn removing_the_last_recipient_locks_everyone_out() {
        assert!(rotate(&g(&[&["a"]]), 0, &[], &s(&["a"])).locks_everyone_out());
        assert!(!rotate(&g(&[&["a"]]), 0, &s(&["b"]), &s(&["a"])).locks_everyone_out());
    }

    #[test]
    fn updatekeys_to_the_same_groups_is_a_noop_and_stays_one() {
        let plan = updatekeys(&g(&[&["a"]]), 0, g(&[&["a"]]), 0);
        assert!(plan.is_noop());
        let changed = updatekeys(&g(&[&["old"]]), 0, g(&[&["new"]]), 0);
        assert!(!changed.is_noop());
        assert_eq!(changed.summary(), "+new -old");
        let again = updatekeys(&changed.groups, changed.threshold, g(&[&["new"]]), 0);
        assert!(again.is_noop());
    }

    #[test]
    fn updatekeys_clamps_the_file_threshold_and_takes_the_rules() {
        let fewer = updatekeys(&g(&[&["a"], &["b"], &["c"]]), 3, g(&[&["a"], &["b"]]), 0);
        assert_eq!(fewer.threshold, 2);
        let one = updatekeys(&g(&[&["a"], &["b"]]), 2, g(&[&["a", "b"]]), 0);
        assert_eq!(one.threshold, 0);
        let ruled = updatekeys(&g(&[&["a"], &["b"]]), 2, g(&[&["a"], &["b"]]), 1);
        assert_eq!(ruled.threshold, 1);
        assert!(!ruled.is_noop());
        assert_eq!(
            ruled.summary(),
            "same recipients, key groups or threshold changed"
        );
    }

    #[test]
    fn moving_a_recipient_between_groups_is_a_change_without_added_or_removed() {
        let plan = updatekeys(&g(&[&["a"], &["b"]]), 2, g(&[&["b"], &["a"]]), 0);
        assert!(!plan.is_noop());
        assert!(plan.added.is_empty() && plan.removed.is_empty());
    }
}
