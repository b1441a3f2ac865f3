//! docs/migrate/from-external-secrets.md, run from its markdown (tests/runbook.rs): each shell
//! block in order, each twice, with the real `helm` and `kubectl` against the Kubernetes API
//! emulator, then the sealbox chart's Deployment run as its pod would be.
//!
//! The world before the steps is the one ESO leaves. ESO itself cannot run here, so the test
//! writes what it writes (spec `external-secrets.md` §2.2, §2.3, §5.3, §13): a stand-in for its
//! Helm chart (the CRDs as templates with `crds.annotations`, `v1beta1` not served, as chart
//! 2.9.0 renders them, and a controller Deployment; no admission webhook, which the emulator
//! does not have), installed with the real helm; ExternalSecrets applied with kubectl, one
//! made by a ClusterExternalSecret; ESO's finalizers and statuses; and the Secrets with ESO's
//! labels, annotations, owner reference and field manager. The hashes are computed here with
//! Python's SHA3 over Go's `%+v` text, not with sealbox's code, so a mismatch shows.
//!
//! The provider is an OpenBao server of this test's own with an audit log, which records every
//! read: the proof that ExternalSecrets that are not due cost no provider call.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use sealbox_crypto::sealed::encode_base64;
use sealbox_tests::cluster::{Cluster, wait_for};
use sealbox_tests::runbook::{Runbook, Shell, emulator_tools, twice, use_cluster};
use sealbox_tests::servers::Bao;
use sealbox_tests::{Env, crdgen_bin, root};
use serde_json::{Value, json};

use crate::runbooks::secret_value;

/// The CRDs the sealbox chart takes over, by plural.
const CRDS: [&str; 4] = [
    "externalsecrets",
    "secretstores",
    "clustersecretstores",
    "clusterexternalsecrets",
];
const API: &str = "/apis/external-secrets.io/v1";
const ESO_FINALIZER: &str = "externalsecrets.external-secrets.io/externalsecret-cleanup";

/// The ExternalSecrets of the world: (namespace, name, refreshInterval, seconds since ESO
/// last synced it, whether it reads with `data[]` rather than `dataFrom[]`).
const OBJECTS: [(&str, &str, &str, u64, bool); 6] = [
    ("team-a", "db", "8760h", 0, true),
    ("team-a", "api", "8760h", 0, false),
    ("team-a", "overdue", "1h", 7200, true),
    ("team-a", "edited", "1h", 0, false),
    ("team-a", "soon", "30s", 0, true),
    ("team-b", "cache", "8760h", 0, false),
];
/// Synced just before the switch and left alone by everyone: never read, never written. Their
/// interval is a year, so their refresh slot (anywhere in it) cannot fall within the test.
const NOT_DUE: [(&str, &str); 4] = [
    ("team-a", "db"),
    ("team-a", "api"),
    ("team-b", "cache"),
    ("team-b", "shared-config"),
];

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Unix seconds as `metav1.Time` marshals them.
fn rfc3339(secs: u64) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("run date");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// SHA3-224 hex of `text` (ESO's `ObjectHash` of a value whose `%+v` is `text`).
fn sha3_224(text: &str) -> String {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha3_224(sys.stdin.buffer.read()).hexdigest())",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Go's `%+v` of a `map[string]string`: keys sorted, values raw.
fn go_map(map: &BTreeMap<String, String>) -> String {
    let entries: Vec<String> = map.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", entries.join(" "))
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

/// ESO's `syncedResourceVersion` of `es` as it is now.
fn synced_resource_version(es: &Value) -> String {
    let meta = &es["metadata"];
    format!(
        "{}-{}",
        meta["generation"].as_i64().unwrap(),
        sha3_224(&format!(
            "{{annotations:{} labels:{}}}",
            go_map(&string_map(&meta["annotations"])),
            go_map(&string_map(&meta["labels"]))
        ))
    )
}

/// ESO's data-hash annotation of a Secret holding `data`.
fn data_hash(data: &BTreeMap<String, String>) -> String {
    let entries: Vec<String> = data
        .iter()
        .map(|(k, v)| {
            let bytes: Vec<String> = v.bytes().map(|b| b.to_string()).collect();
            format!("{k}:[{}]", bytes.join(" "))
        })
        .collect();
    sha3_224(&format!("map[{}]", entries.join(" ")))
}

/// An ExternalSecret's manifest as it is in Git.
fn manifest(namespace: &str, name: &str, interval: &str, by_data: bool) -> String {
    let source = if by_data {
        format!(
            "  data:\n  - secretKey: value\n    remoteRef:\n      key: app/{name}\n      property: value\n"
        )
    } else {
        format!("  dataFrom:\n  - extract:\n      key: app/{name}\n")
    };
    format!(
        "---\napiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n\
         spec:\n  refreshInterval: {interval}\n  secretStoreRef:\n    name: {store}\n    kind: {kind}\n  target:\n    name: {name}\n{source}",
        store = if namespace == "team-a" {
            "vault"
        } else {
            "vault-shared"
        },
        kind = if namespace == "team-a" {
            "SecretStore"
        } else {
            "ClusterSecretStore"
        },
    )
}

/// What ESO leaves after syncing `namespace/name` at `synced_at` with `value`: its finalizer,
/// its status, and the Secret, written with its field manager. Returns the Secret.
fn eso_synced(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    synced_at: u64,
    value: &str,
) -> Value {
    let path = format!("{API}/namespaces/{namespace}/externalsecrets/{name}");
    let mut es = cluster.get(&path).unwrap();
    es["metadata"]["finalizers"] = json!([ESO_FINALIZER]);
    let es = cluster.replace(&path, &es);
    let mut with_status = es.clone();
    let time = rfc3339(synced_at);
    with_status["status"] = json!({
        "refreshTime": time,
        "syncedResourceVersion": synced_resource_version(&es),
        "binding": {"name": name},
        "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced",
                        "message": "secret synced", "lastTransitionTime": time}],
    });
    cluster.replace(&format!("{path}/status"), &with_status);
    // Without a template ESO copies the ExternalSecret's labels and annotations (kubectl's
    // last-applied-configuration included) to the Secret, then adds its own.
    let mut labels = string_map(&es["metadata"]["labels"]);
    labels.insert(
        "reconcile.external-secrets.io/managed".into(),
        "true".into(),
    );
    labels.insert(
        "reconcile.external-secrets.io/created-by".into(),
        sha3_224(&format!("{namespace}/{name}")),
    );
    let data = BTreeMap::from([("value".to_owned(), value.to_owned())]);
    let mut annotations = string_map(&es["metadata"]["annotations"]);
    annotations.insert(
        "reconcile.external-secrets.io/data-hash".into(),
        data_hash(&data),
    );
    cluster.create(
        &format!("/api/v1/namespaces/{namespace}/secrets?fieldManager=externalsecrets.external-secrets.io/{name}"),
        &json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "labels": labels, "annotations": annotations,
                    "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                        "name": name, "uid": es["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
                "data": {"value": encode_base64(value.as_bytes())}}),
    )
}

/// A stand-in for ESO's chart 2.9.0: what matters here is how Helm treats its CRDs.
fn eso_chart(env: &Env) -> std::path::PathBuf {
    let dir = env.path("eso-chart");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::create_dir_all(dir.join("files")).unwrap();
    let write = |file: &str, text: &str| std::fs::write(dir.join(file), text).unwrap();
    write(
        "Chart.yaml",
        "apiVersion: v2\nname: external-secrets\nversion: 2.9.0\nappVersion: v2.9.0\ntype: application\n",
    );
    write(
        "values.yaml",
        "installCRDs: true\ncrds:\n  annotations: {}\n",
    );
    let crdgen = Command::new(crdgen_bin()).output().expect("crdgen").stdout;
    let crdgen = String::from_utf8(crdgen).unwrap();
    // ESO's CRDs: the same schemas; v1beta1 defined but not served (since v0.17), and the
    // annotations block the chart's `crds.annotations` extends.
    let crds: Vec<String> = crdgen
        .split("---\n")
        .filter(|doc| doc.contains("\n  group: external-secrets.io\n"))
        .map(|doc| {
            doc.replacen(
                "\nmetadata:\n",
                "\nmetadata:\n  annotations:\n    controller-gen.kubebuilder.io/version: v0.19.0\n    EXTRA_ANNOTATIONS\n",
                1,
            )
            .replace(
                "    served: true\n    storage: false\n",
                "    served: false\n    storage: false\n",
            )
        })
        .collect();
    assert_eq!(crds.len(), 4);
    write("files/crds.yaml", &crds.join("---\n"));
    write(
        "templates/crds.yaml",
        r#"{{- if .Values.installCRDs }}
{{- $extra := "" }}
{{- with .Values.crds.annotations }}
{{- $extra = printf "%s\n" (toYaml . | indent 4) }}
{{- end }}
{{- range $doc := splitList "---\n" (.Files.Get "files/crds.yaml") }}
{{- if $doc }}
---
{{ $doc | replace "    EXTRA_ANNOTATIONS\n" $extra | trim }}
{{- end }}
{{- end }}
{{- end }}
"#,
    );
    write(
        "templates/controller.yaml",
        r#"apiVersion: v1
kind: ServiceAccount
metadata:
  name: external-secrets
  namespace: {{ .Release.Namespace }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: external-secrets
  namespace: {{ .Release.Namespace }}
  labels:
    app.kubernetes.io/name: external-secrets
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: external-secrets
  template:
    metadata:
      labels:
        app.kubernetes.io/name: external-secrets
    spec:
      serviceAccountName: external-secrets
      containers:
        - name: external-secrets
          image: ghcr.io/external-secrets/external-secrets:v2.9.0
          args: ["--concurrent=1"]
"#,
    );
    dir
}

fn crd(cluster: &Cluster, plural: &str) -> Option<Value> {
    cluster.get(&format!(
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.external-secrets.io"
    ))
}

fn serves_v1beta1(cluster: &Cluster) -> bool {
    cluster
        .get("/apis/external-secrets.io/v1beta1")
        .is_some_and(|d| d["resources"].to_string().contains("\"externalsecrets\""))
}

fn es_path(namespace: &str, name: &str) -> String {
    format!("{API}/namespaces/{namespace}/externalsecrets/{name}")
}

fn secret_path(namespace: &str, name: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/secrets/{name}")
}

/// Runs a setup command (the world around the steps) in the guide's shell.
fn setup(shell: &Shell, script: &str) {
    let out = shell.try_script(script);
    assert!(
        out.status.success(),
        "{script}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn migrate_from_external_secrets_without_a_refresh_storm() {
    let env = Env::new();
    let book = Runbook::load("docs/migrate/from-external-secrets.md");
    assert_eq!(
        book.headings(),
        [
            "1. Keep ESO's CRDs when its release goes",
            "2. Stop ESO",
            "3. Hand the CRDs over to the sealbox release",
            "4. Install sealbox",
            "5. Check the hand-over",
        ]
    );
    let step = |n: usize| &book.steps[n - 1];

    let bao = Bao::start_audited();
    let cluster = Cluster::start(&env, "eso");
    let repo = env.path("repo");
    std::fs::create_dir_all(repo.join("clusters/prod")).unwrap();
    std::os::unix::fs::symlink(root().join("charts"), repo.join("charts")).unwrap();
    let mut shell = Shell::new(&repo);
    emulator_tools(&shell);
    shell.var("KUBECONFIG", repo.join("kubeconfig").display().to_string());
    use_cluster(&shell, &cluster);
    let eso_chart = eso_chart(&env);
    shell.var("ESO_CHART", eso_chart.display().to_string());
    shell.var("ESO_VERSION", "2.9.0");

    // ESO, installed with Helm as its docs say (the namespace made first: helm's
    // --create-namespace validates against the OpenAPI document the emulator does not serve);
    // its CRDs do not serve v1beta1.
    cluster.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "external-secrets"}}),
    );
    setup(
        &shell,
        "helm install external-secrets \"$ESO_CHART\" --namespace external-secrets",
    );
    for plural in CRDS {
        let crd = crd(&cluster, plural).unwrap_or_else(|| panic!("{plural}"));
        assert!(crd["metadata"]["annotations"]["helm.sh/resource-policy"].is_null());
    }
    assert!(!serves_v1beta1(&cluster));

    // The manifests in Git, applied with kubectl; the stores' tokens made by hand.
    let prod = repo.join("clusters/prod");
    let git = |file: &str, text: &str| std::fs::write(prod.join(file), text).unwrap();
    git(
        "00-namespaces.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-b\n---\n\
         apiVersion: v1\nkind: Namespace\nmetadata:\n  name: platform\n",
    );
    git(
        "10-stores.yaml",
        &format!(
            "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata:\n  name: vault\n  namespace: team-a\n\
             spec:\n  provider:\n    vault:\n      server: {url}\n      path: secret\n      version: v2\n\
             \x20     auth:\n        tokenSecretRef:\n          name: vault-token\n          key: token\n---\n\
             apiVersion: external-secrets.io/v1\nkind: ClusterSecretStore\nmetadata:\n  name: vault-shared\n\
             spec:\n  provider:\n    vault:\n      server: {url}\n      path: secret\n      version: v2\n\
             \x20     auth:\n        tokenSecretRef:\n          name: vault-token\n          namespace: platform\n          key: token\n",
            url = bao.url()
        ),
    );
    let team_a: String = OBJECTS
        .iter()
        .filter(|o| o.0 == "team-a")
        .map(|(ns, name, interval, _, by_data)| manifest(ns, name, interval, *by_data))
        .collect();
    git("20-team-a.yaml", &team_a);
    git(
        "30-team-b.yaml",
        &format!(
            "{}---\napiVersion: external-secrets.io/v1\nkind: ClusterExternalSecret\nmetadata:\n  name: shared-config\n\
             spec:\n  externalSecretName: shared-config\n  namespaces: [team-b]\n  refreshTime: 1m\n\
             \x20 externalSecretSpec:\n    refreshInterval: 8760h\n    secretStoreRef:\n      name: vault-shared\n      kind: ClusterSecretStore\n\
             \x20   target:\n      name: shared-config\n    dataFrom:\n    - extract:\n        key: app/shared-config\n",
            manifest("team-b", "cache", "8760h", false)
        ),
    );
    setup(&shell, "kubectl apply -f clusters/prod/");
    for namespace in ["team-a", "platform"] {
        cluster.create(
            &format!("/api/v1/namespaces/{namespace}/secrets"),
            &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "vault-token"},
                    "stringData": {"token": bao.root_token()}}),
        );
    }

    // What ESO did with them: the stores validated, the ClusterExternalSecret's child made,
    // every ExternalSecret synced (one two hours ago), with the values the provider had then.
    let now = now_secs();
    let store_status = json!({"capabilities": "ReadWrite", "conditions": [{"type": "Ready", "status": "True",
        "reason": "Valid", "message": "store validated", "lastTransitionTime": rfc3339(now)}]});
    for path in [
        format!("{API}/namespaces/team-a/secretstores/vault"),
        format!("{API}/clustersecretstores/vault-shared"),
    ] {
        let mut store = cluster.get(&path).unwrap();
        store["status"] = store_status.clone();
        cluster.replace(&format!("{path}/status"), &store);
    }
    let ces_path = format!("{API}/clusterexternalsecrets/shared-config");
    let mut ces = cluster.get(&ces_path).unwrap();
    ces["metadata"]["finalizers"] =
        json!(["externalsecrets.external-secrets.io/clusterexternalsecret-cleanup"]);
    let mut ces = cluster.replace(&ces_path, &ces);
    cluster.create(
        &format!("{API}/namespaces/team-b/externalsecrets"),
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": "shared-config", "namespace": "team-b",
                    "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret",
                        "name": "shared-config", "uid": ces["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}]},
                "spec": ces["spec"]["externalSecretSpec"]}),
    );
    ces["status"] = json!({"externalSecretName": "shared-config", "provisionedNamespaces": ["team-b"],
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": rfc3339(now)}]});
    cluster.replace(&format!("{ces_path}/status"), &ces);
    let mut team_b = cluster.get("/api/v1/namespaces/team-b").unwrap();
    team_b["metadata"]["finalizers"] =
        json!(["externalsecrets.external-secrets.io/ces-shared-config"]);
    cluster.replace("/api/v1/namespaces/team-b", &team_b);

    let mut synced: Vec<(&str, &str, u64)> = OBJECTS
        .iter()
        .map(|(ns, name, _, ago, _)| (*ns, *name, now - ago))
        .collect();
    synced.push(("team-b", "shared-config", now));
    for (namespace, name, at) in &synced {
        bao.kv2_put(
            "secret",
            &format!("app/{name}"),
            &json!({"value": format!("{name}-1")}),
        );
        eso_synced(&cluster, namespace, name, *at, &format!("{name}-1"));
    }
    // Since then, every value changed at the provider: a Secret changes only if it is read.
    for (_, name, _) in &synced {
        bao.kv2_put(
            "secret",
            &format!("app/{name}"),
            &json!({"value": format!("{name}-2")}),
        );
    }
    let resource_version =
        |path: &str| cluster.get(path).unwrap()["metadata"]["resourceVersion"].clone();
    let before: Vec<(String, Value)> = NOT_DUE
        .iter()
        .flat_map(|(ns, name)| [es_path(ns, name), secret_path(ns, name)])
        .map(|path| {
            let version = resource_version(&path);
            (path, version)
        })
        .collect();
    let unchanged = |when: &str| {
        for (path, version) in &before {
            assert_eq!(
                &resource_version(path),
                version,
                "{path} was written ({when})"
            );
        }
    };

    // 1. The CRDs carry the keep policy; nothing else changed.
    twice(&shell, &book, step(1));
    for plural in CRDS {
        let annotations = &crd(&cluster, plural).unwrap()["metadata"]["annotations"];
        assert_eq!(annotations["helm.sh/resource-policy"], "keep", "{plural}");
    }
    assert!(
        cluster
            .get("/apis/apps/v1/namespaces/external-secrets/deployments/external-secrets")
            .is_some()
    );
    unchanged("step 1");

    // 2. ESO's release is gone; its CRDs and every object stay.
    twice(&shell, &book, step(2));
    assert!(
        cluster
            .get("/apis/apps/v1/namespaces/external-secrets/deployments/external-secrets")
            .is_none(),
        "ESO's controller is still there"
    );
    for plural in CRDS {
        assert!(crd(&cluster, plural).is_some(), "{plural} was deleted");
    }
    unchanged("step 2");

    // While no controller runs, someone pushes a change to one ExternalSecret.
    std::fs::write(
        prod.join("20-team-a.yaml"),
        team_a.replace(
            "name: edited\n  namespace: team-a\nspec:\n  refreshInterval: 1h\n",
            "name: edited\n  namespace: team-a\nspec:\n  refreshInterval: 2h\n",
        ),
    )
    .unwrap();
    setup(&shell, "kubectl apply -f clusters/prod/20-team-a.yaml");
    let edited = cluster.get(&es_path("team-a", "edited")).unwrap();
    assert_eq!(edited["spec"]["refreshInterval"], "2h");
    assert_eq!(edited["metadata"]["generation"], 2);

    // 3. The CRDs belong to the sealbox release.
    twice(&shell, &book, step(3));
    for plural in CRDS {
        let meta = &crd(&cluster, plural).unwrap()["metadata"];
        assert_eq!(meta["annotations"]["meta.helm.sh/release-name"], "sealbox");
        assert_eq!(meta["labels"]["app.kubernetes.io/managed-by"], "Helm");
    }

    // 4. sealbox installed; the chart updated the CRDs it took over (v1beta1 served again).
    // Then the kubelet's part: the chart's pod runs.
    twice(&shell, &book, step(4));
    assert!(
        serves_v1beta1(&cluster),
        "the sealbox chart's CRDs serve v1beta1"
    );
    for plural in CRDS {
        let annotations = &crd(&cluster, plural).unwrap()["metadata"]["annotations"];
        assert_eq!(annotations["helm.sh/resource-policy"], "keep", "{plural}");
    }
    unchanged("step 4");
    let pod = cluster.run_deployment(&env, "kube-system", "sealbox", &[]);
    let controller = &pod.controller;
    let mut every: Vec<(&str, &str)> = OBJECTS.iter().map(|o| (o.0, o.1)).collect();
    every.push(("team-b", "shared-config"));
    wait_for("the controller to reconcile every ExternalSecret", || {
        let metrics = controller.metrics().body;
        every
            .iter()
            .all(|(ns, name)| {
                metrics.contains(&format!(
                    "externalsecret_sync_calls_total{{name=\"{name}\",namespace=\"{ns}\"}}"
                ))
            })
            .then_some(())
    });

    // The overdue ExternalSecret and the edited one are read at start.
    for name in ["overdue", "edited"] {
        wait_for(&format!("{name} to sync"), || {
            let secret = cluster.get(&secret_path("team-a", name))?;
            (secret_value(&secret, "value")? == format!("{name}-2")).then_some(())
        });
        assert!(
            !bao.requests("read", &format!("secret/data/app/{name}"))
                .is_empty()
        );
    }

    // 5. The check lists every ExternalSecret Ready, those not due with ESO's time.
    let printed = twice(&shell, &book, step(5));
    for (ns, name, at) in &synced {
        let line = printed
            .lines()
            .find(|l| l.split_whitespace().take(2).eq([*ns, *name]))
            .unwrap_or_else(|| panic!("{ns}/{name} is not listed:\n{printed}"));
        assert!(line.contains("True"), "{line}");
        if NOT_DUE.contains(&(*ns, *name)) {
            assert!(line.contains(&rfc3339(*at)), "{line}");
        }
    }

    // The one refreshed every 30 seconds is read again within 30 seconds of its last sync, at
    // its own slot of the interval (sealbox spreads refreshes: never later than ESO would).
    let soon = synced.iter().find(|s| s.1 == "soon").unwrap().2;
    wait_for("soon to sync when due", || {
        let secret = cluster.get(&secret_path("team-a", "soon"))?;
        (secret_value(&secret, "value")? == "soon-2").then_some(())
    });
    let last_sync = rfc3339(soon);
    let reads = bao.requests("read", "secret/data/app/soon");
    assert!(!reads.is_empty());
    for read in &reads {
        assert!(
            read[..19] >= last_sync[..19],
            "soon was read at {read}, before its last sync ({last_sync})"
        );
    }

    // Those not due: no read at the provider, no write to them or their Secrets, the values
    // ESO wrote still there although the provider has new ones.
    for (ns, name) in NOT_DUE {
        let reads = bao.requests("read", &format!("secret/data/app/{name}"));
        assert!(reads.is_empty(), "{ns}/{name} was read at {reads:?}");
        let secret = cluster.get(&secret_path(ns, name)).unwrap();
        assert_eq!(
            secret_value(&secret, "value"),
            Some(format!("{name}-1")),
            "{ns}/{name}"
        );
    }
    unchanged("after the start");
    // And no value in the controller's log.
    let log = controller.log();
    for (_, name, _) in &synced {
        for n in [1, 2] {
            assert!(
                !log.contains(&format!("{name}-{n}")),
                "a value leaked: {log}"
            );
        }
    }
}

/// Why step 1 is there: without it, `helm uninstall` of ESO's chart (CRDs as templates, as ESO
/// ships them) deletes the CRDs, and with them every ExternalSecret on a real API server.
#[test]
fn without_the_keep_policy_uninstalling_eso_deletes_its_crds() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "eso-crds");
    let work = env.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let shell = Shell::new(&work);
    emulator_tools(&shell);
    std::fs::copy(&cluster.kubeconfig, work.join("kubeconfig")).unwrap();
    let chart = eso_chart(&env);
    cluster.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "external-secrets"}}),
    );
    setup(
        &shell,
        &format!(
            "export KUBECONFIG=$PWD/kubeconfig\n\
             helm install external-secrets {} --namespace external-secrets\n\
             helm uninstall external-secrets --namespace external-secrets",
            chart.display()
        ),
    );
    for plural in CRDS {
        assert!(crd(&cluster, plural).is_none(), "{plural} survived");
    }
}
