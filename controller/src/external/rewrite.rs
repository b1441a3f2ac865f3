//! `dataFrom[].rewrite` (spec §2.1): each step renames every key of a `dataFrom` result, in
//! order. `regexp` is Go's `regexp.ReplaceAllString(key, target)` (`$1`, `${name}`);
//! `transform` renders a template whose `.value` is the key. `merge` is not supported.

use std::collections::BTreeMap;

use super::templating;
use crate::crd::external::externalsecret::Rewrite;

/// One compiled step.
enum Step {
    Regexp(regex::Regex, String),
    Transform(templating::KeyTemplate),
}

impl Step {
    fn compile(step: &Rewrite, at: &str) -> Result<Step, String> {
        match (&step.regexp, &step.transform, &step.merge) {
            (Some(r), None, None) => {
                let re = regex::Regex::new(&r.source).map_err(|e| {
                    format!("{at}.regexp.source is not a valid regular expression: {e}")
                })?;
                Ok(Step::Regexp(re, r.target.clone()))
            }
            (None, Some(t), None) => templating::parse_key_template(&t.template)
                .map(Step::Transform)
                .map_err(|e| format!("{at}.transform.template: {e}")),
            (None, None, Some(_)) => Err(format!("{at}.merge is not supported by sealbox yet")),
            _ => Err(format!(
                "{at} must set exactly one of regexp, transform and merge"
            )),
        }
    }

    fn rename(&self, key: &str, at: &str) -> Result<String, String> {
        match self {
            Step::Regexp(re, target) => Ok(re.replace_all(key, target.as_str()).into_owned()),
            Step::Transform(template) => templating::render_key(template, key)
                .map_err(|e| format!("{at}.transform.template: {e}")),
        }
    }
}

/// Applies the steps to the keys of `map` (keys renamed to one: the last in key order wins).
pub fn apply(
    steps: &[Rewrite],
    map: BTreeMap<String, Vec<u8>>,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut map = map;
    for (i, step) in steps.iter().enumerate() {
        let at = format!("rewrite[{i}]");
        let step = Step::compile(step, &at)?;
        // As ESO (`RewriteRegexp`): two keys renamed to one keep the later key's value.
        let mut renamed = BTreeMap::new();
        for (key, value) in map {
            renamed.insert(step.rename(&key, &at)?, value);
        }
        map = renamed;
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::external::externalsecret::{RewriteRegexp, RewriteTransform};

    fn map(keys: &[&str]) -> BTreeMap<String, Vec<u8>> {
        keys.iter()
            .map(|k| (k.to_string(), b"v".to_vec()))
            .collect()
    }

    fn regexp(source: &str, target: &str) -> Rewrite {
        Rewrite {
            regexp: Some(RewriteRegexp {
                source: source.into(),
                target: target.into(),
            }),
            ..Rewrite::default()
        }
    }

    #[test]
    fn regexp_steps_run_in_order_with_go_expansion() {
        let steps = [regexp("^team/(.*)", "app-$1"), regexp("/", "_")];
        let out = apply(&steps, map(&["team/db/password", "other"])).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["app-db_password", "other"]);
    }

    #[test]
    fn transform_renders_the_key() {
        let steps = [Rewrite {
            transform: Some(RewriteTransform {
                template: "{{ .value | upper }}".into(),
            }),
            ..Rewrite::default()
        }];
        let out = apply(&steps, map(&["db_user"])).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["DB_USER"]);
    }

    #[test]
    fn collisions_keep_the_last_key_and_bad_steps_are_errors() {
        let mut two = map(&["a", "b"]);
        two.insert("b".into(), b"from-b".to_vec());
        let out = apply(&[regexp("^.*$", "same")], two).unwrap();
        assert_eq!(
            out,
            BTreeMap::from([("same".to_owned(), b"from-b".to_vec())])
        );
        let err = apply(&[regexp("(", "x")], map(&["a"])).unwrap_err();
        assert!(err.contains("rewrite[0].regexp.source"), "{err}");
        let err = apply(&[Rewrite::default()], map(&["a"])).unwrap_err();
        assert!(err.contains("exactly one"), "{err}");
    }
}
