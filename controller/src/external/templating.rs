//! `spec.target.template` (engine v2, spec §8) rendered with the project's one Go template
//! engine, `sealbox_crypto::template`, in ESO's order (§8.3): `templateFrom[]` entries, then
//! `template.data` (highest precedence), then `template.metadata` labels and annotations.
//!
//! Which function when: [`render`] for a target template (the ConfigMaps and Secrets that
//! `templateFrom` names are read beforehand into [`Sources`]); [`parse_key_template`] and
//! [`render_key`] for `dataFrom[].rewrite[].transform`, whose `.value` is a key.
//! Errors name the template (the key it renders) and never a value.

use std::collections::BTreeMap;

use sealbox_crypto::template::{Template as Engine, Value};

use super::keys::{self, Decoding};
use super::target::Rendered;
use crate::crd::external::externalsecret::{Template, TemplateFrom, TemplateRef};

/// The ConfigMaps and Secrets `templateFrom` names, by name (`None`: it does not exist).
#[derive(Debug, Default)]
pub struct Sources {
    pub config_maps: BTreeMap<String, Option<BTreeMap<String, Vec<u8>>>>,
    pub secrets: BTreeMap<String, Option<BTreeMap<String, Vec<u8>>>>,
}

/// Where a `templateFrom` entry writes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Data,
    Labels,
    Annotations,
}

fn target_of(from: &TemplateFrom, at: &str) -> Result<Target, String> {
    match from
        .target
        .as_deref()
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "data" => Ok(Target::Data),
        "labels" => Ok(Target::Labels),
        "annotations" => Ok(Target::Annotations),
        other => Err(format!(
            "{at}.target {other:?}: a Secret target takes Data, Annotations or Labels"
        )),
    }
}

/// Renders `template` over the provider `data`.
pub fn render(
    template: &Template,
    data: &BTreeMap<String, Vec<u8>>,
    sources: &Sources,
) -> Result<Rendered, String> {
    validate(template)?;
    let keep_provider_data = match template.merge_policy.as_deref().unwrap_or("Replace") {
        "Merge" => true,
        "Replace" => template.data.is_empty() && template.template_from.is_empty(),
        other => return Err(format!("mergePolicy {other:?}: use Replace or Merge")),
    };
    let meta = template.metadata.clone().unwrap_or_default();
    let mut out = Rendered {
        type_: template.type_.clone().filter(|t| !t.is_empty()),
        keep_provider_data,
        labels: meta.labels.clone(),
        annotations: meta.annotations.clone(),
        finalizers: meta.finalizers.clone(),
        ..Rendered::default()
    };
    let context = Value::from_strings(data);
    for (i, from) in template.template_from.iter().enumerate() {
        let at = format!("templateFrom[{i}]");
        let target = target_of(from, &at)?;
        let decoding = Decoding::from_spec(from.values_decoding_strategy.as_deref())
            .map_err(|e| format!("{at}: {e}"))?;
        let mut sourced = |kind: &str,
                           r: &TemplateRef,
                           found: &Option<BTreeMap<String, Vec<u8>>>|
         -> Result<(), String> {
            let Some(items) = found else {
                return Err(format!(
                    "{at}: {kind} {:?} does not exist in the ExternalSecret's namespace",
                    r.name
                ));
            };
            for item in &r.items {
                let text = items.get(&item.key).ok_or_else(|| {
                    format!("{at}: {kind} {:?} has no key {:?}", r.name, item.key)
                })?;
                let text = std::str::from_utf8(text).map_err(|_| {
                    format!(
                        "{at}: {kind} {:?} key {:?} is not UTF-8 text",
                        r.name, item.key
                    )
                })?;
                match item.template_as.as_deref().unwrap_or("Values") {
                    "Values" => {
                        let value = execute(&item.key, text, &context)?;
                        let value =
                            keys::decode(&item.key, &value, decoding).map_err(|e| e.to_string())?;
                        put(&mut out, target, &item.key, value)?;
                    }
                    "KeysAndValues" => {
                        keys_and_values(&mut out, target, &item.key, text, &context, decoding)?
                    }
                    other => {
                        return Err(format!(
                            "{at}: templateAs {other:?}: use Values or KeysAndValues"
                        ));
                    }
                }
            }
            Ok(())
        };
        if let Some(cm) = &from.config_map {
            sourced(
                "ConfigMap",
                cm,
                sources.config_maps.get(&cm.name).unwrap_or(&None),
            )?;
        }
        if let Some(secret) = &from.secret {
            sourced(
                "Secret",
                secret,
                sources.secrets.get(&secret.name).unwrap_or(&None),
            )?;
        }
        if let Some(literal) = &from.literal {
            keys_and_values(&mut out, target, "literal", literal, &context, decoding)?;
        }
    }
    for (key, text) in &template.data {
        let value = execute(key, text, &context)?;
        out.data.insert(key.clone(), value);
    }
    for (key, text) in &meta.labels {
        let value = execute(&format!("metadata.labels.{key}"), text, &context)?;
        put(&mut out, Target::Labels, key, value)?;
    }
    for (key, text) in &meta.annotations {
        let value = execute(&format!("metadata.annotations.{key}"), text, &context)?;
        put(&mut out, Target::Annotations, key, value)?;
    }
    Ok(out)
}

/// ESO's `ValidateSecretTemplate` (§2.4): templates that would mint credentials are refused.
fn validate(template: &Template) -> Result<(), String> {
    if let Some(version) = template.engine_version.as_deref()
        && version != "v2"
    {
        return Err(format!(
            "engineVersion {version:?}: only v2 is supported (as in ESO)"
        ));
    }
    match template.type_.as_deref() {
        Some("bootstrap.kubernetes.io/token") => {
            Err("type bootstrap.kubernetes.io/token is not allowed in a template".into())
        }
        Some("kubernetes.io/service-account-token") => {
            let named = template.metadata.as_ref().is_some_and(|m| {
                m.annotations
                    .contains_key("kubernetes.io/service-account.name")
            });
            let annotates = template.template_from.iter().any(|f| {
                f.target
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case("annotations"))
            });
            if named || annotates {
                Err("type kubernetes.io/service-account-token with a service-account.name annotation is not allowed in a template".into())
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

fn execute(name: &str, text: &str, context: &Value) -> Result<Vec<u8>, String> {
    let engine = Engine::parse(name, text).map_err(|e| e.to_string())?;
    engine.execute(context).map_err(|e| e.to_string())
}

/// `templateAs: KeysAndValues` and `literal`: the rendered text is a YAML map of keys to values.
fn keys_and_values(
    out: &mut Rendered,
    target: Target,
    name: &str,
    text: &str,
    context: &Value,
    decoding: Decoding,
) -> Result<(), String> {
    let rendered = execute(name, text, context)?;
    let rendered = String::from_utf8(rendered)
        .map_err(|_| format!("template {name:?} rendered text that is not UTF-8 YAML"))?;
    let map: BTreeMap<String, String> = serde_saphyr::from_str(&rendered).map_err(|_| {
        format!("template {name:?} must render a YAML map of keys to string values (KeysAndValues)")
    })?;
    for (key, value) in map {
        // ESO decodes each value with `valuesDecodingStrategy` here too.
        let value = keys::decode(&key, value.as_bytes(), decoding).map_err(|e| e.to_string())?;
        put(out, target, &key, value)?;
    }
    Ok(())
}

fn put(out: &mut Rendered, target: Target, key: &str, value: Vec<u8>) -> Result<(), String> {
    let text = |value: Vec<u8>| {
        String::from_utf8(value)
            .map_err(|_| format!("the value rendered for {key:?} is not UTF-8 text"))
    };
    match target {
        Target::Data => {
            out.data.insert(key.to_owned(), value);
        }
        Target::Labels => {
            out.labels.insert(key.to_owned(), text(value)?);
        }
        Target::Annotations => {
            out.annotations.insert(key.to_owned(), text(value)?);
        }
    }
    Ok(())
}

/// A parsed `rewrite.transform` template.
pub struct KeyTemplate(Engine);

/// Parses a `rewrite.transform` template.
pub fn parse_key_template(text: &str) -> Result<KeyTemplate, String> {
    Engine::parse("transform", text)
        .map(KeyTemplate)
        .map_err(|e| e.to_string())
}

/// Renders a `rewrite.transform` template for `key` (its `.value`).
pub fn render_key(template: &KeyTemplate, key: &str) -> Result<String, String> {
    let context = Value::Map(BTreeMap::from([(
        "value".to_owned(),
        Value::String(key.as_bytes().to_vec()),
    )]));
    let out = template.0.execute(&context).map_err(|e| e.to_string())?;
    String::from_utf8(out).map_err(|_| "the rewritten key is not UTF-8".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::external::externalsecret::{TemplateMetadata, TemplateRefItem};

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn text(rendered: &Rendered, key: &str) -> String {
        String::from_utf8(rendered.data[key].clone()).unwrap()
    }

    #[test]
    fn a_dockerconfigjson_template_renders_as_eso_does() {
        let template = Template {
            type_: Some("kubernetes.io/dockerconfigjson".into()),
            data: BTreeMap::from([(
                ".dockerconfigjson".to_owned(),
                r#"{"auths":{"{{ .registry }}":{"auth":"{{ printf "%s:%s" .user .pass | b64enc }}"}}}"#.to_owned(),
            )]),
            ..Template::default()
        };
        let out = render(
            &template,
            &data(&[("registry", "ghcr.io"), ("user", "u"), ("pass", "p")]),
            &Sources::default(),
        )
        .unwrap();
        assert_eq!(
            text(&out, ".dockerconfigjson"),
            r#"{"auths":{"ghcr.io":{"auth":"dTpw"}}}"#
        );
        assert!(
            !out.keep_provider_data,
            "a data template replaces the provider keys"
        );
        assert_eq!(out.type_.as_deref(), Some("kubernetes.io/dockerconfigjson"));
    }

    #[test]
    fn template_from_sources_then_data_then_metadata() {
        let template = Template {
            merge_policy: Some("Merge".into()),
            metadata: Some(TemplateMetadata {
                labels: BTreeMap::from([("user".to_owned(), "{{ .user }}".to_owned())]),
                ..TemplateMetadata::default()
            }),
            template_from: vec![
                TemplateFrom {
                    config_map: Some(TemplateRef {
                        name: "tpl".into(),
                        items: vec![
                            TemplateRefItem {
                                key: "config.yaml".into(),
                                template_as: None,
                            },
                            TemplateRefItem {
                                key: "many".into(),
                                template_as: Some("KeysAndValues".into()),
                            },
                        ],
                    }),
                    ..TemplateFrom::default()
                },
                TemplateFrom {
                    literal: Some("note: from-literal".into()),
                    target: Some("annotations".into()),
                    ..TemplateFrom::default()
                },
            ],
            data: BTreeMap::from([("config.yaml".to_owned(), "wins: {{ .user }}".to_owned())]),
            ..Template::default()
        };
        let mut sources = Sources::default();
        sources.config_maps.insert(
            "tpl".into(),
            Some(data(&[
                ("config.yaml", "user: {{ .user }}"),
                ("many", "a: '{{ .user }}-a'\nb: b"),
            ])),
        );
        let out = render(&template, &data(&[("user", "admin")]), &sources).unwrap();
        assert_eq!(
            text(&out, "config.yaml"),
            "wins: admin",
            "template.data has the last word"
        );
        assert_eq!(text(&out, "a"), "admin-a");
        assert_eq!(text(&out, "b"), "b");
        assert_eq!(out.annotations["note"], "from-literal");
        assert_eq!(out.labels["user"], "admin");
        assert!(out.keep_provider_data);
    }

    #[test]
    fn errors_name_the_key_and_never_the_value() {
        let bad = |tpl: &str| Template {
            data: BTreeMap::from([("conf".to_owned(), tpl.to_owned())]),
            ..Template::default()
        };
        let secret = data(&[("pw", "s3cr3t-value")]);
        for (tpl, want) in [
            ("{{ .missing }}", "missing"),
            ("{{ bcrypt .pw }}", "bcrypt"),
            ("{{ nosuchfn .pw }}", "nosuchfn"),
            ("{{ .pw ", "conf"),
        ] {
            let err = render(&bad(tpl), &secret, &Sources::default()).unwrap_err();
            assert!(err.contains(want) && err.contains("conf"), "{tpl}: {err}");
            assert!(!err.contains("s3cr3t-value"), "{err}");
        }
        let missing = Template {
            template_from: vec![TemplateFrom {
                secret: Some(TemplateRef {
                    name: "gone".into(),
                    items: vec![],
                }),
                ..TemplateFrom::default()
            }],
            ..Template::default()
        };
        let err = render(&missing, &secret, &Sources::default()).unwrap_err();
        assert!(err.contains("Secret \"gone\" does not exist"), "{err}");
    }

    #[test]
    fn privileged_templates_are_refused() {
        let token = Template {
            type_: Some("bootstrap.kubernetes.io/token".into()),
            ..Template::default()
        };
        assert!(render(&token, &BTreeMap::new(), &Sources::default()).is_err());
        let v1 = Template {
            engine_version: Some("v1".into()),
            ..Template::default()
        };
        assert!(
            render(&v1, &BTreeMap::new(), &Sources::default())
                .unwrap_err()
                .contains("v2")
        );
    }
}
