//! The Helm chart installed for real: `helm install` (helm v3.18, default values, release
//! storage in Secrets as usual) into the Kubernetes API emulator, then `sealbox-controller` run
//! as the rendered Deployment's container would be, with its arguments, environment and
//! ServiceAccount token, and used end to end: `sealbox kubeseal` with its defaults, a
//! SealedSecret and an ExternalSecret (moto). Last, every request the controller made is checked
//! against the RBAC rules the chart bound to its ServiceAccount.
//!
//! How the controller is told apart from the test harness: it runs on a ServiceAccount token
//! from a TokenRequest for the chart's ServiceAccount (what the kubelet mounts into a pod), and
//! the emulator counts requests per ServiceAccount token (`/emulator/requests?user=...`). The
//! harness and the CLI use the emulator's admin kubeconfig, whose token names nobody.

use std::path::Path;

use sealbox_crypto::sealed::decode_base64;
use sealbox_tests::cluster::{Cluster, wait_for};
use sealbox_tests::servers::{Moto, unique};
use sealbox_tests::{Env, root};
use serde_json::{Value, json};

/// The release's namespace and name, as the chart's README installs it.
const NAMESPACE: &str = "kube-system";
const RELEASE: &str = "sealbox";
/// Where the application's objects go.
const APP: &str = "team-a";

fn helm() -> String {
    let helm = std::env::var("SEALBOX_HELM").unwrap_or_else(|_| {
        panic!("SEALBOX_HELM is not set: run `eval \"$(tests/infra/install-peers.sh)\"` (or scripts/test.sh)")
    });
    assert!(
        Path::new(&helm).is_file(),
        "SEALBOX_HELM={helm} does not exist"
    );
    helm
}

/// `helm ARGS` against `cluster`, with helm's own files in the test's directory.
fn run_helm(env: &Env, cluster: &Cluster, args: &[&str]) -> String {
    let mut cmd = env.command(helm(), args);
    cmd.0.env("KUBECONFIG", &cluster.kubeconfig);
    let out = cmd.run();
    assert!(
        out.output.status.success(),
        "helm {args:?} failed:\n{}{}",
        out.stdout(),
        out.stderr()
    );
    out.stdout()
}

/// One object of a rendered manifest.
#[derive(Debug)]
struct Rendered {
    api_version: String,
    kind: String,
    name: String,
    namespace: Option<String>,
}

/// The objects in `helm template` output: top-level `apiVersion` and `kind`, and `name` and
/// `namespace` directly under `metadata`.
fn rendered_objects(manifests: &str) -> Vec<Rendered> {
    let unquote = |v: &str| v.trim().trim_matches('"').to_owned();
    manifests
        .split("\n---")
        .filter_map(|doc| {
            let (mut api_version, mut kind, mut name, mut namespace) = (None, None, None, None);
            let mut in_metadata = false;
            for line in doc.lines() {
                if !line.starts_with(' ') && !line.starts_with('#') && !line.is_empty() {
                    in_metadata = line == "metadata:";
                }
                if let Some(v) = line.strip_prefix("apiVersion: ") {
                    api_version = Some(unquote(v));
                } else if let Some(v) = line.strip_prefix("kind: ") {
                    kind = Some(unquote(v));
                } else if in_metadata {
                    if let Some(v) = line.strip_prefix("  name: ") {
                        name = Some(unquote(v));
                    } else if let Some(v) = line.strip_prefix("  namespace: ") {
                        namespace = Some(unquote(v));
                    }
                }
            }
            Some(Rendered {
                api_version: api_version?,
                kind: kind?,
                name: name.unwrap_or_else(|| panic!("a rendered object without a name: {doc}")),
                namespace,
            })
        })
        .collect()
}

/// The API path of an object, its resource found through the emulator's discovery as a client
/// (helm, kubectl) finds it.
fn object_path(cluster: &Cluster, object: &Rendered) -> String {
    let base = if object.api_version == "v1" {
        "/api/v1".to_owned()
    } else {
        format!("/apis/{}", object.api_version)
    };
    let discovery = cluster
        .get(&base)
        .unwrap_or_else(|| panic!("the emulator does not serve {}", object.api_version));
    let resource = discovery["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["kind"] == object.kind.as_str() && !r["name"].as_str().unwrap().contains('/'))
        .unwrap_or_else(|| {
            panic!(
                "the emulator does not serve {} {}",
                object.api_version, object.kind
            )
        });
    let plural = resource["name"].as_str().unwrap();
    if resource["namespaced"] == true {
        let ns = object.namespace.as_deref().unwrap_or(NAMESPACE);
        format!("{base}/namespaces/{ns}/{plural}/{}", object.name)
    } else {
        format!("{base}/{plural}/{}", object.name)
    }
}

fn secret_value(secret: &Value, key: &str) -> String {
    let b64 = secret["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {secret}"));
    String::from_utf8(decode_base64(b64).unwrap()).unwrap()
}

#[test]
fn the_default_chart_installs_and_its_controller_syncs_sealed_and_external_secrets() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "chart");
    let chart = root().join("charts/sealbox");
    let chart = chart.to_str().unwrap();

    // The real helm install. Helm's release record is a Secret sent as protobuf, which the
    // emulator decodes; it serves no OpenAPI, hence --disable-openapi-validation.
    run_helm(
        &env,
        &cluster,
        &[
            "install",
            RELEASE,
            chart,
            "--namespace",
            NAMESPACE,
            "--disable-openapi-validation",
        ],
    );
    let record = cluster
        .get(&format!(
            "/api/v1/namespaces/{NAMESPACE}/secrets/sh.helm.release.v1.{RELEASE}.v1"
        ))
        .expect("helm's release record");
    assert_eq!(record["type"], "helm.sh/release.v1");
    assert_eq!(
        record["metadata"]["labels"]["status"], "deployed",
        "{record}"
    );
    let listed = run_helm(&env, &cluster, &["list", "--namespace", NAMESPACE, "-q"]);
    assert_eq!(listed.trim(), RELEASE);

    // Every object the chart renders with its defaults is there.
    let manifests = run_helm(
        &env,
        &cluster,
        &["template", RELEASE, chart, "--namespace", NAMESPACE],
    );
    let objects = rendered_objects(&manifests);
    let count = |kind: &str| objects.iter().filter(|o| o.kind == kind).count();
    assert!(
        count("Deployment") == 1 && count("CustomResourceDefinition") >= 5 && count("Service") >= 1,
        "{objects:?}"
    );
    for object in &objects {
        let path = object_path(&cluster, object);
        let stored = cluster.get(&path).unwrap_or_else(|| {
            panic!("{} {} was not installed ({path})", object.kind, object.name)
        });
        assert_eq!(stored["kind"], object.kind.as_str(), "{path}");
    }
    // The CRDs are served as a real API server serves them once created: v1beta1 too.
    assert!(
        cluster
            .get("/apis/external-secrets.io/v1beta1")
            .is_some_and(|d| d["resources"].to_string().contains("externalsecrets")),
        "the chart's CRDs do not serve external-secrets.io/v1beta1"
    );

    // The pod: the rendered container's arguments and environment, its ServiceAccount's token
    // (a kubeconfig stands in for in-cluster configuration), and moto's endpoint as an AWS
    // pod's environment would carry a regional endpoint.
    let moto = Moto::shared();
    let aws: Vec<(String, String)> = moto
        .client_env()
        .into_iter()
        .filter(|(k, _)| k.starts_with("AWS_ENDPOINT_URL") || *k == "AWS_EC2_METADATA_DISABLED")
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let pod = cluster.run_deployment(&env, NAMESPACE, RELEASE, &aws);
    let (controller, user, service_account) = (&pod.controller, &pod.user, &pod.service_account);

    // kubeseal's defaults reach it: the Service sealed-secrets-controller in kube-system,
    // through the service proxy to the Deployment's named port.
    let mut fetch = env.sealbox(&["kubeseal", "--fetch-cert"]);
    fetch.0.env("KUBECONFIG", &cluster.kubeconfig);
    let cert = fetch.run().ok();
    assert!(
        cert.starts_with("-----BEGIN CERTIFICATE-----"),
        "not a PEM certificate: {cert}"
    );
    assert_eq!(cert, controller.get("/v1/cert.pem").body);
    // And the metrics Service reaches the metrics port.
    let metrics = cluster.request(
        "GET",
        &format!("/api/v1/namespaces/{NAMESPACE}/services/{RELEASE}-metrics:metrics/proxy/metrics"),
        None,
    );
    assert_eq!(metrics.status, 200, "{}", metrics.body);

    cluster.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APP}}),
    );

    // Sealed Secrets: `sealbox kubeseal` with no flags fetches the certificate the same way.
    let mut seal = env.sealbox(&["kubeseal"]);
    seal.0.env("KUBECONFIG", &cluster.kubeconfig);
    let sealed = seal
        .stdin(format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-password\n  namespace: {APP}\n\
             stringData:\n  password: sealed-through-the-chart\n"
        ))
        .ok();
    let sealed: Value = serde_json::from_str(&sealed).expect("kubeseal prints JSON by default");
    cluster.create(
        &format!("/apis/bitnami.com/v1alpha1/namespaces/{APP}/sealedsecrets"),
        &sealed,
    );
    let secret = wait_for("the unsealed Secret", || {
        cluster.get(&format!("/api/v1/namespaces/{APP}/secrets/db-password"))
    });
    assert_eq!(
        secret_value(&secret, "password"),
        "sealed-through-the-chart"
    );

    // External Secrets: a SecretStore with static credentials in a Secret, moto's endpoint.
    let remote = unique("chart-install");
    moto.request(
        "CreateSecret",
        &json!({"Name": remote, "SecretString": "{\"username\":\"svc\",\"password\":\"synced-through-the-chart\"}"}),
    );
    cluster.create(
        &format!("/api/v1/namespaces/{APP}/secrets"),
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "aws-creds"},
                "stringData": {"id": "AKIDEXAMPLE", "key": "not-a-real-key"}}),
    );
    cluster.create(
        &format!("/apis/external-secrets.io/v1/namespaces/{APP}/secretstores"),
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "aws"},
                "spec": {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1",
                    "auth": {"secretRef": {"accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
                                           "secretAccessKeySecretRef": {"name": "aws-creds", "key": "key"}}}}}}}),
    );
    cluster.create(
        &format!("/apis/external-secrets.io/v1/namespaces/{APP}/externalsecrets"),
        &json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": "db"},
                "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "aws", "kind": "SecretStore"},
                    "target": {"name": "db-credentials"},
                    "dataFrom": [{"extract": {"key": remote}}]}}),
    );
    let synced = wait_for("the ExternalSecret's Secret", || {
        cluster.get(&format!("/api/v1/namespaces/{APP}/secrets/db-credentials"))
    });
    assert_eq!(secret_value(&synced, "username"), "svc");
    assert_eq!(
        secret_value(&synced, "password"),
        "synced-through-the-chart"
    );

    // RBAC: everything the controller asked for, the chart's roles grant.
    assert_rbac_covers(&cluster, user, service_account, controller, true);
}

/// Every request the controller made as `user` (the emulator's counters) is allowed by a rule
/// bound to `service_account`. `external`: the ExternalSecret controller ran too.
fn assert_rbac_covers(
    cluster: &Cluster,
    user: &str,
    service_account: &str,
    controller: &sealbox_tests::cluster::Controller,
    external: bool,
) {
    let made = cluster
        .get(&format!("/emulator/requests?user={user}"))
        .expect("the emulator's request counters");
    let made: Vec<(String, u64)> = made
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert!(
        made.iter().any(|(r, _)| r.contains("sealedsecrets"))
            && (!external || made.iter().any(|(r, _)| r.contains("externalsecrets"))),
        "the controller's requests were not counted under {user}: {made:?}"
    );
    let grants = grants(cluster, service_account);
    let missing: Vec<String> = made
        .iter()
        .filter_map(|(request, n)| {
            let access = match access(request) {
                Ok(None) => return None,
                Ok(Some(access)) => access,
                Err(why) => return Some(format!("{request} ({n}x): {why}")),
            };
            if grants.iter().any(|g| g.allows(&access)) {
                return None;
            }
            Some(format!(
                "{request} ({n}x) needs a rule {{apiGroups: [\"{}\"], resources: [\"{}\"], verbs: [\"{}\"]}}{}",
                access.group,
                access.resource,
                access.verb,
                match &access.namespace {
                    Some(ns) => format!(" in namespace {ns} (a Role there, or a ClusterRole)"),
                    None => " cluster-wide (a ClusterRole with a ClusterRoleBinding)".to_owned(),
                }
            ))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "the chart's RBAC does not allow what sealbox-controller does as {user}:\n  {}\n\
         (the roles bound to it: {})\ncontroller log:\n{}",
        missing.join("\n  "),
        grants
            .iter()
            .map(|g| g.role.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join(", "),
        controller.log()
    );
}

/// With `sealed.additionalNamespaces`, the controller watches only the release namespace and
/// those, and looks each one up first: the ClusterRole then grants `get` on namespaces, and
/// everything it asks for is allowed.
#[test]
fn the_chart_with_additional_namespaces_grants_what_its_controller_asks() {
    let env = Env::new();
    let cluster = Cluster::start(&env, "chart");
    let chart = root().join("charts/sealbox");
    cluster.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APP}}),
    );
    run_helm(
        &env,
        &cluster,
        &[
            "install",
            RELEASE,
            chart.to_str().unwrap(),
            "--namespace",
            NAMESPACE,
            "--disable-openapi-validation",
            "--set",
            "external.enabled=false",
            "--set",
            &format!("sealed.additionalNamespaces={{{APP},not-there}}"),
        ],
    );
    let pod = cluster.run_deployment(&env, NAMESPACE, RELEASE, &[]);
    let (controller, user) = (&pod.controller, &pod.user);
    let mut seal = env.sealbox(&["kubeseal"]);
    seal.0.env("KUBECONFIG", &cluster.kubeconfig);
    let sealed = seal
        .stdin(format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-password\n  namespace: {APP}\n\
             stringData:\n  password: only-these-namespaces\n"
        ))
        .ok();
    let sealed: Value = serde_json::from_str(&sealed).expect("kubeseal prints JSON by default");
    cluster.create(
        &format!("/apis/bitnami.com/v1alpha1/namespaces/{APP}/sealedsecrets"),
        &sealed,
    );
    let secret = wait_for("the unsealed Secret", || {
        cluster.get(&format!("/api/v1/namespaces/{APP}/secrets/db-password"))
    });
    assert_eq!(secret_value(&secret, "password"), "only-these-namespaces");
    let made = cluster
        .get(&format!("/emulator/requests?user={user}"))
        .expect("the emulator's request counters");
    assert!(
        made.get(format!("GET /api/v1/namespaces/{APP}")).is_some(),
        "{made}"
    );
    assert!(
        made.get("WATCH /apis/bitnami.com/v1alpha1/sealedsecrets")
            .is_none(),
        "{made}"
    );
    assert_rbac_covers(&cluster, user, &pod.service_account, controller, false);
}

/// One RBAC rule granted to the ServiceAccount: everywhere (a ClusterRoleBinding) or in one
/// namespace (a RoleBinding).
struct Grant {
    role: String,
    namespace: Option<String>,
    rule: Value,
}

impl Grant {
    /// Whether this rule allows `access`, as the API server's RBAC authorizer decides.
    fn allows(&self, access: &Access) -> bool {
        let lists = |field: &str, want: &str| {
            self.rule[field]
                .as_array()
                .is_some_and(|v| v.iter().any(|x| x == "*" || x.as_str() == Some(want)))
        };
        let in_scope = match &self.namespace {
            None => true,
            Some(ns) => access.namespace.as_deref() == Some(ns.as_str()),
        };
        let named = self.rule["resourceNames"].as_array().is_none_or(|names| {
            names.is_empty()
                || access
                    .name
                    .as_deref()
                    .is_some_and(|n| names.iter().any(|x| x.as_str() == Some(n)))
        });
        in_scope
            && lists("apiGroups", &access.group)
            && lists("resources", &access.resource)
            && lists("verbs", access.verb)
            && named
    }
}

/// The rules of every ClusterRole and Role bound to the ServiceAccount `sa` of the release's
/// namespace, read from the cluster as the authorizer reads them.
fn grants(cluster: &Cluster, sa: &str) -> Vec<Grant> {
    const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";
    let bound = |binding: &Value| {
        binding["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| {
                s["kind"] == "ServiceAccount" && s["name"] == sa && s["namespace"] == NAMESPACE
            })
    };
    let mut out = Vec::new();
    let bindings = cluster
        .list(&format!("{RBAC}/clusterrolebindings"))
        .into_iter()
        .map(|b| (None, b))
        .chain(
            cluster
                .list(&format!("{RBAC}/rolebindings"))
                .into_iter()
                .map(|b| (b["metadata"]["namespace"].as_str().map(str::to_owned), b)),
        );
    for (namespace, binding) in bindings.filter(|(_, b)| bound(b)) {
        let (kind, name) = (
            binding["roleRef"]["kind"].as_str().unwrap(),
            binding["roleRef"]["name"].as_str().unwrap(),
        );
        let path = match (kind, &namespace) {
            ("ClusterRole", _) => format!("{RBAC}/clusterroles/{name}"),
            ("Role", Some(ns)) => format!("{RBAC}/namespaces/{ns}/roles/{name}"),
            other => panic!("a binding to {other:?}: {binding}"),
        };
        let role = cluster.get(&path).unwrap_or_else(|| {
            panic!(
                "{} refers to a missing {kind} {name}",
                binding["metadata"]["name"]
            )
        });
        let label = match &namespace {
            Some(ns) => format!("{kind} {name} (bound in {ns})"),
            None => format!("{kind} {name}"),
        };
        for rule in role["rules"].as_array().into_iter().flatten() {
            out.push(Grant {
                role: label.clone(),
                namespace: namespace.clone(),
                rule: rule.clone(),
            });
        }
    }
    assert!(
        !out.is_empty(),
        "no roles are bound to ServiceAccount {NAMESPACE}/{sa}"
    );
    out
}

/// What a request asks the authorizer for (its attributes as Kubernetes' RequestInfo derives them).
#[derive(Debug)]
struct Access {
    verb: &'static str,
    group: String,
    /// `resource` or `resource/subresource`.
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
}

/// The access a request `"VERB /path"` (as the emulator counts them) needs; `None` for
/// discovery, which every authenticated user may read (the default `system:discovery` role).
fn access(request: &str) -> Result<Option<Access>, String> {
    let (method, path) = request
        .split_once(' ')
        .ok_or_else(|| "not a \"VERB path\"".to_owned())?;
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (group, rest) = match parts.as_slice() {
        ["version"] | ["api"] | ["api", _] | ["apis"] | ["apis", _] | ["apis", _, _] => {
            return Ok(None);
        }
        ["api", _, rest @ ..] => ("", rest),
        ["apis", group, _, rest @ ..] => (*group, rest),
        _ => return Err("not a Kubernetes API path this test maps to RBAC".to_owned()),
    };
    let (namespace, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (Some((*ns).to_owned()), rest),
        _ => (None, rest),
    };
    let (resource, name, sub) = match rest {
        [resource] => (*resource, None, None),
        [resource, name] => (*resource, Some((*name).to_owned()), None),
        [resource, name, sub @ ..] => (*resource, Some((*name).to_owned()), Some(sub.join("/"))),
        [] => return Err("no resource in the path".to_owned()),
    };
    let verb = match (method, name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("WATCH", _) => "watch",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (other, _) => return Err(format!("an HTTP method {other} this test does not map")),
    };
    Ok(Some(Access {
        verb,
        group: group.to_owned(),
        resource: match sub {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource.to_owned(),
        },
        namespace,
        name,
    }))
}

#[test]
fn requests_map_to_rbac_attributes_as_the_api_server_maps_them() {
    let get = |r: &str| access(r).unwrap().unwrap();
    let a = get("PATCH /apis/bitnami.com/v1alpha1/namespaces/team-a/sealedsecrets/x/status");
    assert_eq!(
        (
            a.verb,
            a.group.as_str(),
            a.resource.as_str(),
            a.namespace.as_deref(),
            a.name.as_deref()
        ),
        (
            "patch",
            "bitnami.com",
            "sealedsecrets/status",
            Some("team-a"),
            Some("x")
        )
    );
    let a = get("WATCH /api/v1/secrets");
    assert_eq!(
        (a.verb, a.group.as_str(), a.resource.as_str(), a.namespace),
        ("watch", "", "secrets", None)
    );
    let a = get("GET /api/v1/namespaces/team-a");
    assert_eq!(
        (a.verb, a.resource.as_str(), a.namespace, a.name.as_deref()),
        ("get", "namespaces", None, Some("team-a"))
    );
    let a = get("POST /api/v1/namespaces/kube-system/serviceaccounts/sa/token");
    assert_eq!(
        (a.verb, a.resource.as_str()),
        ("create", "serviceaccounts/token")
    );
    assert_eq!(
        get("GET /api/v1/namespaces/kube-system/secrets").verb,
        "list"
    );
    assert_eq!(
        get("DELETE /api/v1/namespaces/a/secrets").verb,
        "deletecollection"
    );
    assert!(
        access("GET /apis/external-secrets.io/v1")
            .unwrap()
            .is_none()
    );
    assert!(access("GET /healthz").is_err());

    // A namespaced grant covers its namespace only; a wrong verb or resourceName is refused.
    let grant = |namespace: Option<&str>, rule: Value| Grant {
        role: "test".into(),
        namespace: namespace.map(str::to_owned),
        rule,
    };
    let secrets = json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]});
    let in_kube_system = grant(Some("kube-system"), secrets.clone());
    assert!(in_kube_system.allows(&get("GET /api/v1/namespaces/kube-system/secrets/k")));
    assert!(!in_kube_system.allows(&get("GET /api/v1/namespaces/team-a/secrets/k")));
    assert!(!in_kube_system.allows(&get("GET /api/v1/secrets")));
    assert!(!grant(None, secrets).allows(&get("WATCH /api/v1/secrets")));
    let named = grant(
        None,
        json!({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["k"]}),
    );
    assert!(named.allows(&get("GET /api/v1/namespaces/a/secrets/k")));
    assert!(!named.allows(&get("GET /api/v1/namespaces/a/secrets/other")));
    let status = grant(
        None,
        json!({"apiGroups": ["bitnami.com"], "resources": ["sealedsecrets"], "verbs": ["patch"]}),
    );
    assert!(!status.allows(&get(
        "PATCH /apis/bitnami.com/v1alpha1/namespaces/a/sealedsecrets/x/status"
    )));
}
