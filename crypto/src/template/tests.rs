//! Golden tests: each expected output is what Go's `text/template` + Sprig produce for the
//! same template and data (derived from their sources; comments note the Go rule at stake).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::{Error, Template, Value};

fn ctx(pairs: &[(&str, &str)]) -> Value {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Value::from_strings(&map)
}

fn render(text: &str, data: &Value) -> Result<String, Error> {
    let out = Template::parse("t", text)?.execute(data)?;
    Ok(String::from_utf8(out).expect("test output is UTF-8"))
}

/// Renders against a small fixed context and compares.
fn golden(cases: &[(&str, &str)]) {
    let data = ctx(&[
        ("user", "bot"),
        ("pass", "s3cret"),
        ("my-key", "dashed"),
        ("empty", ""),
        ("json", r#"{"b":[1,2.5,"x"],"a":{"c":null}}"#),
        ("csv", "a,b,c"),
        ("spaced", "  hi  "),
    ]);
    for (text, want) in cases {
        match render(text, &data) {
            Ok(got) => assert_eq!(&got, want, "template {text:?}"),
            Err(e) => panic!("template {text:?} failed: {e}"),
        }
    }
}

fn exec_err(text: &str, data: &Value) -> String {
    Template::parse("t", text)
        .expect("parses")
        .execute(data)
        .expect_err("fails")
        .to_string()
}

#[test]
fn dockerconfigjson() {
    let t = r#"{"auths":{"{{ .registry }}":{"auth":"{{ printf "%s:%s" .user .pass | b64enc }}"}}}"#;
    let data = ctx(&[("registry", "ghcr.io"), ("user", "bot"), ("pass", "s3cret")]);
    assert_eq!(
        render(t, &data).unwrap(),
        r#"{"auths":{"ghcr.io":{"auth":"Ym90OnMzY3JldA=="}}}"#
    );
}

#[test]
fn language_constructs() {
    golden(&[
        ("plain text", "plain text"),
        ("{{ .user }}", "bot"),
        ("{{ index . \"my-key\" }}", "dashed"),
        ("{{ index . \"absent\" }}", ""),
        ("a  {{- .user -}}  b", "abotb"),
        ("a\n\t {{- /* gone */ -}} \n b", "ab"),
        ("{{/* c */}}x", "x"),
        (
            "{{ if .empty }}y{{ else if .user }}u{{ else }}n{{ end }}",
            "u",
        ),
        ("{{ if not .empty }}yes{{ end }}", "yes"),
        ("{{ with .user }}[{{ . }}]{{ else }}none{{ end }}", "[bot]"),
        (
            "{{ with .empty }}[{{ . }}]{{ else with .pass }}<{{ . }}>{{ end }}",
            "<s3cret>",
        ),
        (
            "{{ $x := .user }}{{ $x = printf \"%s!\" $x }}{{ $x }}",
            "bot!",
        ),
        (
            "{{ range $k, $v := . }}{{ $k }},{{ end }}",
            "csv,empty,json,my-key,pass,spaced,user,",
        ),
        (
            "{{ range $i, $v := list \"a\" \"b\" }}{{ $i }}={{ $v }} {{ end }}",
            "0=a 1=b ",
        ),
        ("{{ range list }}x{{ else }}empty{{ end }}", "empty"),
        (
            "{{ range $v := list 1 2 3 4 }}{{ if eq $v 2 }}{{ continue }}{{ end }}{{ if eq $v 4 }}{{ break }}{{ end }}{{ $v }}{{ end }}",
            "13",
        ),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        (
            "{{ range (fromJson .json).b }}[{{ . }}]{{ end }}",
            "[1][2.5][x]",
        ),
        (
            "{{ define \"inner\" }}<{{ . }}>{{ end }}{{ define \"outer\" }}({{ template \"inner\" .user }}){{ end }}{{ template \"outer\" . }}",
            "(<bot>)",
        ),
        (
            "{{ block \"b\" .user }}default {{ . }}{{ end }}",
            "default bot",
        ),
        (
            "{{ define \"x\" }}{{ $ }}{{ end }}{{ template \"x\" \"arg\" }}",
            "arg",
        ),
        ("{{ (printf \"%s-%s\" .user .pass) | upper }}", "BOT-S3CRET"),
        ("{{ (fromJson .json).a.c }}", "<no value>"),
        (
            "{{ $.user }}{{ with .pass }}{{ $.user }}{{ end }}",
            "botbot",
        ),
        (
            "{{ \"a\\tb\" }}|{{ `raw\\n` }}|{{ 'a' }}|{{ 0x10 }}|{{ 1e3 }}|{{ -2 }}|{{ 1.50 }}",
            "a\tb|raw\\n|97|16|1000|-2|1.5",
        ),
        ("{{ true }} {{ false }} {{ print nil }}", "true false <nil>"),
        (
            "{{ and .user .empty .pass }}|{{ and .user .pass }}|{{ or .empty .user }}|{{ or .empty 0 }}",
            "|s3cret|bot|0",
        ),
        (
            "{{ eq .user \"x\" \"bot\" }} {{ ne 1 2 }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt \"b\" \"a\" }} {{ ge 1.5 2.5 }}",
            "true true true true true false",
        ),
        ("{{ len .user }} {{ len (list 1 2) }} {{ len . }}", "3 2 7"),
        (
            "{{ index (list \"a\" \"b\") 1 }} {{ index .user 0 }}",
            "b 98",
        ),
        (
            "{{ print \"a\" 1 2 \"b\" }}|{{ println \"a\" 1 }}",
            "a1 2b|a 1\n",
        ),
        (
            "{{ printf \"%5.1f|%-4d|%q|%x|%v\" 3.25159 7 \"hi\" \"hi\" (list 1 \"a\") }}",
            "  3.3|7   |\"hi\"|6869|[1 a]",
        ),
        (
            "{{ html \"<a href='x'>&\" }} {{ urlquery \"a b&c\" }} {{ js \"it's <b>\" }}",
            "&lt;a href=&#39;x&#39;&gt;&amp; a+b%26c it\\'s \\u003Cb\\u003E",
        ),
        (
            "{{ dict \"b\" 2 \"a\" (list 1 nil) }}",
            "map[a:[1 <nil>] b:2]",
        ),
        (
            "{{ 1000000.0 }} {{ 0.00001 }} {{ (fromJson \"123456789\") }}",
            "1e+06 1e-05 1.23456789e+08",
        ),
    ]);
}

#[test]
fn custom_delimiters() {
    let t = Template::parse_with_delims("t", "[[ .user ]] {{ .user }} [[- \" x\" -]]", "[[", "]]")
        .unwrap();
    assert_eq!(
        t.execute(&ctx(&[("user", "u")])).unwrap(),
        b"u {{ .user }} x"
    );
}

#[test]
fn string_functions() {
    golden(&[
        ("{{ .user | b64enc }}", "Ym90"),
        ("{{ \"Ym90\" | b64dec }}", "bot"),
        (
            "{{ \"!!\" | b64dec }}",
            "illegal base64 data at input byte 0",
        ),
        (
            "{{ .user | b32enc }}|{{ \"MJXXI===\" | b32dec }}",
            "MJXXI===|bot",
        ),
        (
            "{{ .spaced | trim }}|{{ upper .user }}|{{ lower \"ÀB\" }}|{{ title \"hello wor-ld\" }}|{{ untitle \"Hello World\" }}",
            "hi|BOT|àb|Hello Wor-Ld|hello world",
        ),
        (
            "{{ trimAll \"$\" \"$$5$\" }}|{{ trimPrefix \"a-\" \"a-b\" }}|{{ trimSuffix \"-b\" \"a-b\" }}|{{ nospace \" a b \" }}",
            "5|b|a|ab",
        ),
        (
            "{{ replace \"-\" \"_\" \"a-b-c\" }}|{{ repeat 3 \"ab\" }}|{{ substr 1 3 \"hello\" }}|{{ trunc 2 \"hello\" }}|{{ trunc -2 \"hello\" }}|{{ abbrev 5 \"hello world\" }}",
            "a_b_c|ababab|el|he|lo|he...",
        ),
        (
            "{{ contains \"ot\" .user }} {{ hasPrefix \"b\" .user }} {{ hasSuffix \"x\" .user }}",
            "true true false",
        ),
        (
            "{{ quote .user 1 nil }}|{{ squote .user 2 }}|{{ cat \"a\" 1 nil \"b\" }}",
            "\"bot\" \"1\"|'bot' '2'|a 1 b",
        ),
        (
            "{{ \"a\\nb\" | indent 2 }}|{{ \"a\\nb\" | nindent 2 }}",
            "  a\n  b|\n  a\n  b",
        ),
        (
            "{{ splitList \",\" .csv }}|{{ (split \",\" .csv)._1 }}|{{ (splitn \",\" 2 .csv)._1 }}|{{ join \"-\" (splitList \",\" .csv) }}",
            "[a b c]|b|b,c|a-b-c",
        ),
        (
            "{{ join \",\" (list 1 nil \"x\") }}|{{ sortAlpha (list \"b\" \"a\") }}|{{ toStrings (list 1 2) }}",
            "1,x|[a b]|[1 2]",
        ),
        (
            "{{ toString 42 }}|{{ toString .user }}|{{ plural \"one\" \"many\" 2 }}",
            "42|bot|many",
        ),
        (
            "{{ sha256sum \"\" }}",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            "{{ sha1sum \"abc\" }}",
            "a9993e364706816aba3e25717850c26c9cd0d89d",
        ),
        (
            "{{ sha512sum \"\" | trunc 16 }}|{{ adler32sum \"Wikipedia\" }}",
            "cf83e1357eefb8bd|300286872",
        ),
        (
            "{{ regexMatch \"^b.t$\" .user }}|{{ regexFind \"[0-9]+\" \"ab12cd34\" }}|{{ regexFindAll \"[0-9]\" \"a1b2c3\" 2 }}",
            "true|12|[1 2]",
        ),
        (
            "{{ regexReplaceAll \"a(x*)b\" \"-ab-axxb-\" \"${1}W\" }}|{{ regexReplaceAllLiteral \"a(x*)b\" \"-ab-\" \"$1\" }}|{{ regexSplit \",\" .csv -1 }}|{{ regexQuoteMeta \"a.b\" }}",
            "-W-xxW-|-$1-|[a b c]|a\\.b",
        ),
        ("{{ regexMatch \"(\" \"x\" }}", "false"),
    ]);
}

#[test]
fn default_json_yaml_functions() {
    golden(&[
        (
            "{{ .empty | default \"dflt\" }}|{{ .user | default \"dflt\" }}|{{ default \"d\" }}",
            "dflt|bot|d",
        ),
        (
            "{{ empty .empty }} {{ empty 0 }} {{ empty (list) }} {{ empty .user }}",
            "true true true false",
        ),
        (
            "{{ coalesce .empty \"\" .user }}|{{ all 1 \"\" }}|{{ any 0 \"x\" }}|{{ ternary \"y\" \"n\" true }}",
            "bot|false|true|y",
        ),
        (
            "{{ (fromJson .json).b }}|{{ fromJson \"not json\" }}",
            "[1 2.5 x]|<no value>",
        ),
        (
            "{{ toJson (fromJson .json) }}",
            r#"{"a":{"c":null},"b":[1,2.5,"x"]}"#,
        ),
        (
            "{{ toJson \"<&>\" }}|{{ toRawJson \"<&>\" }}|{{ toJson 1e21 }}|{{ toJson .user }}",
            r#""\u003c\u0026\u003e"|"<&>"|1e+21|"bot""#,
        ),
        (
            "{{ toPrettyJson (dict \"a\" (list 1)) }}",
            "{\n  \"a\": [\n    1\n  ]\n}",
        ),
        (
            "{{ toYaml (dict \"b\" (list \"x\" \"y\") \"a\" \"true\") }}",
            "a: \"true\"\nb:\n- x\n- \"y\"",
        ),
        (
            "{{ (fromYaml \"a: 1\\nb: x\").b }}|{{ (fromYaml \"a: 1\").a }}",
            "x|1",
        ),
        ("{{ deepCopy (list 1) }}", "[1]"),
    ]);
}

#[test]
fn collection_functions() {
    golden(&[
        (
            "{{ list 1 \"a\" }}|{{ append (list 1) 2 }}|{{ prepend (list 1) 0 }}|{{ concat (list 1) (list 2 3) }}",
            "[1 a]|[1 2]|[0 1]|[1 2 3]",
        ),
        (
            "{{ first (list 1 2) }} {{ last (list 1 2) }} {{ rest (list 1 2 3) }} {{ initial (list 1 2 3) }} {{ reverse (list 1 2) }}",
            "1 2 [2 3] [1 2] [2 1]",
        ),
        (
            "{{ uniq (list 1 1 2) }} {{ has 2 (list 1 2) }} {{ without (list 1 2 3) 2 }} {{ compact (list 0 1 \"\" \"a\") }} {{ until 3 }}",
            "[1 2] true [1 3] [1 a] [0 1 2]",
        ),
        (
            "{{ $d := dict \"a\" 1 }}{{ get $d \"a\" }}|{{ get $d \"zz\" }}|{{ hasKey $d \"a\" }}",
            "1||true",
        ),
        (
            "{{ $d := dict \"a\" 1 }}{{ $_ := set $d \"b\" 2 }}{{ $d }}|{{ unset $d \"a\" }}",
            "map[a:1 b:2]|map[b:2]",
        ),
        (
            "{{ keys (dict \"b\" 1 \"a\" 2) }} {{ values (dict \"b\" 1 \"a\" 2) }}",
            "[a b] [2 1]",
        ),
        (
            "{{ pick (dict \"a\" 1 \"b\" 2) \"a\" }} {{ omit (dict \"a\" 1 \"b\" 2) \"a\" }} {{ pluck \"a\" (dict \"a\" 1) (dict \"a\" 2) }}",
            "map[a:1] map[b:2] [1 2]",
        ),
        (
            "{{ dig \"a\" \"b\" \"none\" (dict \"a\" (dict \"b\" 7)) }} {{ dig \"a\" \"x\" \"none\" (dict \"a\" (dict)) }}",
            "7 none",
        ),
        (
            "{{ merge (dict \"a\" 1 \"n\" (dict \"x\" 1)) (dict \"a\" 2 \"b\" 3 \"n\" (dict \"y\" 2)) }}",
            "map[a:1 b:3 n:map[x:1 y:2]]",
        ),
        (
            "{{ mergeOverwrite (dict \"a\" 1) (dict \"a\" 2) }}",
            "map[a:2]",
        ),
        (
            "{{ add 1 2 3 }} {{ add1 1 }} {{ sub 5 2 }} {{ mul 2 3 }} {{ div 7 2 }} {{ mod 7 2 }} {{ max 1 5 3 }} {{ min 4 2 }}",
            "6 2 3 6 3 1 5 2",
        ),
        (
            "{{ atoi \"42\" }} {{ int \"0x10\" }} {{ int64 2.9 }} {{ float64 \"1.5\" }} {{ add \"2\" 1 }}",
            "42 16 2 1.5 3",
        ),
        (
            "{{ typeOf 1 }} {{ typeOf .user }} {{ kindOf (list) }} {{ kindIs \"map\" . }} {{ typeIs \"float64\" 1.0 }} {{ deepEqual (list 1) (list 1) }}",
            "int string slice true true true",
        ),
    ]);
}

#[test]
fn non_utf8_bytes_round_trip() {
    let raw: Vec<u8> = vec![0x00, 0xff, 0xfe, b'a', 0x80];
    let map = BTreeMap::from([("bin".to_string(), raw.clone())]);
    let data = Value::from_strings(&map);
    let t = |s: &str| Template::parse("t", s).unwrap().execute(&data).unwrap();
    assert_eq!(t("{{ .bin }}"), raw);
    let encoded = t("{{ .bin | b64enc }}");
    assert_eq!(encoded, b"AP/+YYA=");
    assert_eq!(t("{{ .bin | b64enc | b64dec }}"), raw);
    assert_eq!(t("{{ printf \"%s\" .bin }}"), raw);
    assert_eq!(t("{{ \"\\xff\" }}"), [0xff]);
}

#[test]
fn missing_key_is_an_error_naming_the_key() {
    let data = ctx(&[("user", "bot")]);
    assert_eq!(
        exec_err("{{ .missing }}", &data),
        "template: t:1:3: executing \"t\" at <.missing>: map has no entry for key \"missing\""
    );
    assert_eq!(
        exec_err("x\n  {{ .user.x }}", &data),
        "template: t:2:5: executing \"t\" at <.user.x>: can't evaluate field x in type string"
    );
    // `default` does not rescue a missing key under missingkey=error (ESO #3843).
    assert!(exec_err("{{ .missing | default \"x\" }}", &data).contains("no entry for key"));
    let e = exec_err(
        "{{ define \"d\" }}{{ .nope }}{{ end }}{{ template \"d\" . }}",
        &data,
    );
    assert!(e.contains("executing \"d\" at <.nope>"), "{e}");
    assert!(exec_err("{{ template \"zz\" }}", &data).contains("template \"zz\" not defined"));
}

#[test]
fn execution_errors() {
    let data = ctx(&[("user", "bot")]);
    for (t, want) in [
        (
            "{{ b64enc 1 }}",
            "wrong type for value; expected string; got int",
        ),
        ("{{ len 3 }}", "error calling len: len of type int"),
        (
            "{{ index (list 1) 5 }}",
            "error calling index: index out of range: 5",
        ),
        (
            "{{ eq 1 \"a\" }}",
            "error calling eq: incompatible types for comparison",
        ),
        (
            "{{ lt (list) (list) }}",
            "error calling lt: invalid type for comparison",
        ),
        (
            "{{ div 1 0 }}",
            "error calling div: runtime error: integer divide by zero",
        ),
        (
            "{{ range .user }}{{ end }}",
            "range can't iterate over value of type string",
        ),
        ("{{ fail \"custom\" }}", "error calling fail: custom"),
        (
            "{{ indent 2 }}",
            "wrong number of args for indent: want 2 got 1",
        ),
        ("{{ .user 1 }}", "user is not a method but has arguments"),
        (
            "{{ mustRegexMatch \"(\" \"x\" }}",
            "error calling mustRegexMatch: error parsing regexp",
        ),
        (
            "{{ mustFromJson \"{\" }}",
            "error calling mustFromJson: invalid JSON",
        ),
    ] {
        let e = exec_err(t, &data);
        assert!(e.contains(want), "{t}: {e}");
        assert!(e.starts_with("template: t:1:"), "{t}: {e}");
    }
}

#[test]
fn errors_never_contain_data_values() {
    const SECRET: &str = "hunter2-Sup3rSecret";
    let data = ctx(&[("pw", SECRET), ("json", "{\"hunter2-Sup3rSecret\": }")]);
    let templates = [
        "{{ .pw.x }}",
        "{{ range .pw }}{{ end }}",
        "{{ len (atoi .pw) }}",
        "{{ index .pw \"x\" }}",
        "{{ eq .pw 1 }}",
        "{{ lt .pw 1 }}",
        "{{ b64enc (list .pw) }}",
        "{{ mustFromJson .json }}",
        "{{ mustFromJson .pw }}",
        "{{ dig \"pw\" \"x\" \"d\" . }}",
        "{{ index (list .pw) 3 }}",
        "{{ indent .pw \"x\" }}",
        "{{ template \"nope\" .pw }}",
        "{{ with .pw }}{{ .missing }}{{ end }}",
        "{{ $x := .pw }}{{ $x.y }}",
        "{{ (list .pw).a }}",
        "{{ ternary 1 2 .pw }}",
        "{{ mustToJson (float64 \"NaN\") }}",
    ];
    for t in templates {
        let e = Template::parse("t", t).unwrap().execute(&data).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("hunter2"), "{t} leaked: {shown}");
    }
}

#[test]
fn parse_errors() {
    for (t, want) in [
        (
            "{{ foo }}",
            "function \"foo\" not defined (sealbox supports",
        ),
        (
            "{{ env \"HOME\" }}",
            "function \"env\" is not supported by sealbox",
        ),
        (
            "{{ genCA \"x\" 3 }}",
            "function \"genCA\" is not supported by sealbox",
        ),
        ("{{ if }}", "missing value for if"),
        ("{{ else }}", "unexpected {{else}}"),
        ("{{ range }}", "missing value for range"),
        ("{{ $x }}", "undefined variable \"$x\""),
        ("{{ template .x }}", "unexpected \".x\" in template clause"),
        ("{{ define \"a\" }}", "unexpected EOF"),
        ("{{ if 1 }}{{ define \"a\" }}{{ end }}{{ end }}", "define"),
        ("{{ (1) x }}", "function \"x\" not defined"),
    ] {
        let e = Template::parse("t", t).unwrap_err().to_string();
        assert!(e.contains(want), "{t}: {e}");
    }
}

#[test]
fn parse_once_execute_many() {
    let t = Template::parse("k", "{{ .a }}").unwrap();
    assert_eq!(t.execute(&ctx(&[("a", "1")])).unwrap(), b"1");
    assert_eq!(t.execute(&ctx(&[("a", "2")])).unwrap(), b"2");
}

#[test]
fn deep_nesting_is_refused_not_overflowing() {
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(Template::parse("t", &deep).is_err());
    let deep_ifs = format!("{}x{}", "{{ if 1 }}".repeat(5000), "{{ end }}".repeat(5000));
    assert!(Template::parse("t", &deep_ifs).is_err());
    // At the limit, in a debug build, on a test thread's 2 MiB stack: parses and runs.
    let ok = format!("{{{{ {}1{} }}}}", "(".repeat(45), ")".repeat(45));
    assert_eq!(render(&ok, &Value::Nil).unwrap(), "1");
    let arg = format!("{}.{}", "(print ".repeat(40), ")".repeat(40));
    let nested = format!(
        "{{{{ define \"r\" }}}}{{{{ template \"r\" {arg} }}}}{{{{ end }}}}{{{{ template \"r\" . }}}}"
    );
    let e = Template::parse("t", &nested)
        .unwrap()
        .execute(&Value::Nil)
        .unwrap_err();
    assert!(
        e.to_string().contains("exceeded maximum template depth"),
        "{e}"
    );
    let recursive = "{{ define \"r\" }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}";
    let e = Template::parse("t", recursive)
        .unwrap()
        .execute(&Value::Nil)
        .unwrap_err();
    assert!(
        e.to_string().contains("exceeded maximum template depth"),
        "{e}"
    );
}

/// Go has no limit on what `until`, `repeat` or `indent` make or on how long a template runs,
/// and runs out of memory (a fatal error, not a recoverable panic) or for hours; sealbox
/// refuses with an error naming the function or action. The first case is the fuzzer's
/// (`go_template`): `until` of about -7.7e20, which Go's number parser saturates, made a list
/// too large to allocate and panicked.
#[test]
fn functions_that_would_exhaust_memory_fail_with_an_error() {
    let fuzzed = "{{ until -0766666666666666666666 }}";
    assert!(exec_err(fuzzed, &Value::Nil).contains("until"));
    for (text, want) in [
        (
            "{{ until 2000000 }}",
            "error calling until: until: 2000000 items are more",
        ),
        ("{{ until -2000000 }}", "until: -2000000 items are more"),
        ("{{ repeat 100000000 \"ab\" }}", "Repeat output too large"),
        (
            "{{ indent 1000000000000 \"x\" }}",
            "indent: output too large",
        ),
        (
            "{{ nindent 100000 (repeat 1000 \"\\n\") }}",
            "nindent: output too large",
        ),
    ] {
        let e = exec_err(text, &Value::Nil);
        assert!(e.contains(want), "{text}: {e}");
    }
    // The fuzzer's second: `quote` of `quote` of … doubles the escaped text each time.
    let doubling = format!("{{{{ \"\\\"\" {} }}}}", "| quote ".repeat(40));
    let e = exec_err(&doubling, &Value::Nil);
    assert!(
        e.contains("error calling quote") || e.contains("more work than allowed"),
        "{e}"
    );
    for text in [
        "{{ range until 1000000 }}{{ range until 1000000 }}{{ end }}{{ end }}",
        "{{ range 100000000000 }}{{ end }}",
        "{{ range until 1000000 }}{{ $ | toString | quote }}{{ end }}",
    ] {
        let e = exec_err(text, &ctx(&[("a", "1")]));
        assert!(
            e.contains("more work than allowed (16 Mi steps and bytes"),
            "{text}: {e}"
        );
    }
    let e = exec_err("{{ uniq (until 20000) }}", &Value::Nil);
    assert!(
        e.contains("uniq: 20000 items are more than the 10000"),
        "{e}"
    );
    // At the limits, they still work as Go's do.
    let n = 1 << 20;
    assert!(render(&format!("{{{{ len (until {n}) }}}}"), &Value::Nil).unwrap() == n.to_string());
    assert_eq!(render("{{ until -3 }}", &Value::Nil).unwrap(), "[0 -1 -2]");
    assert_eq!(
        render("{{ indent 2 \"a\\nb\" }}", &Value::Nil).unwrap(),
        "  a\n  b"
    );
}

proptest! {
    #[test]
    fn parsing_arbitrary_input_never_panics(text in "\\PC*") {
        let _ = Template::parse("fuzz", &text);
    }

    #[test]
    fn parsing_action_soup_never_panics(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("{{"), Just("}}"), Just("{{- "), Just(" -}}"), Just("("), Just(")"),
                Just("|"), Just(" "), Just("\n"), Just(".a"), Just("$x"), Just(":="), Just("="),
                Just(","), Just("if"), Just("range"), Just("else"), Just("end"), Just("with"),
                Just("define"), Just("template"), Just("block"), Just("break"), Just("\"s\""),
                Just("`r`"), Just("'c'"), Just("1"), Just("-2"), Just("0x"), Just("/*"),
                Just("*/"), Just("printf"), Just("nil"), Just("."), Just("$"),
            ],
            0..40,
        )
    ) {
        let text: String = parts.concat();
        if let Ok(t) = Template::parse("fuzz", &text) {
            let _ = t.execute(&ctx(&[("a", "x")]));
        }
    }
}

#[test]
fn sealed_secrets_dialect_has_no_eso_functions_and_missing_keys_print_no_value() {
    let data = std::collections::BTreeMap::from([("user".to_string(), "bob".to_string())]);
    let ctx = Value::from_strings(&data);
    let t = Template::parse_sealed_secrets("url", "{{ .user }}:{{ .missing }}").unwrap();
    assert_eq!(t.execute(&ctx).unwrap(), b"bob:<no value>");
    let e = Template::parse("url", "{{ .missing }}")
        .unwrap()
        .execute(&ctx);
    assert!(e.unwrap_err().to_string().contains("map has no entry"));
    for f in ["toYaml", "fromYaml"] {
        let e = Template::parse_sealed_secrets("k", &format!("{{{{ {f} .user }}}}")).unwrap_err();
        assert!(
            matches!(&e, Error::UnknownFunction { function, .. } if function == f),
            "{e}"
        );
        assert!(Template::parse("k", &format!("{{{{ {f} .user }}}}")).is_ok());
    }
    let e = Template::parse_sealed_secrets("k", "{{ env \"HOME\" }}").unwrap_err();
    assert!(matches!(&e, Error::UnsupportedFunction { function, .. } if function == "env"));
}
