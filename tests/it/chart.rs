//! The Helm chart (charts/sealbox) and the Dockerfile, checked with the real tools: helm v3.18
//! (`helm lint --strict`, `helm template`), kubernetes-validate (strict, Kubernetes 1.33) and
//! hadolint. tests/infra/install-peers.sh installs them; a missing tool fails the test.

use std::path::PathBuf;
use std::process::{Command, Output};

use sealbox_tests::{controller_bin, crdgen_bin, root};

/// The tool whose path the install script exports as `var`.
fn tool(var: &str) -> PathBuf {
    let path = std::env::var_os(var).unwrap_or_else(|| {
        panic!(
            "{var} is not set: run `eval \"$(tests/infra/install-peers.sh)\"` (or scripts/test.sh), \
             which installs helm, kubernetes-validate and hadolint"
        )
    });
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "{var}={} does not exist: run tests/infra/install-peers.sh",
        path.display()
    );
    path
}

fn chart() -> PathBuf {
    root().join("charts/sealbox")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `helm template sealbox charts/sealbox -n kube-system --set SET…`.
fn template(sets: &[&str]) -> Output {
    let mut cmd = Command::new(tool("SEALBOX_HELM"));
    cmd.args(["template", "sealbox"])
        .arg(chart())
        .args(["--namespace", "kube-system"]);
    for set in sets {
        cmd.args(["--set", set]);
    }
    cmd.output().expect("run helm")
}

/// The manifests `helm template` renders with SETS; panics if it fails.
fn render(sets: &[&str]) -> String {
    let out = template(sets);
    assert!(
        out.status.success(),
        "helm template {sets:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The rendered documents, without helm's `# Source:` comments.
fn documents(manifests: &str) -> Vec<String> {
    manifests
        .split("\n---\n")
        .map(|doc| {
            doc.lines()
                .filter(|l| !l.starts_with("# Source:") && *l != "---")
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|doc| doc.lines().any(|l| l.starts_with("kind: ")))
        .collect()
}

fn kind(doc: &str) -> &str {
    doc.lines()
        .find_map(|l| l.strip_prefix("kind: "))
        .unwrap()
        .trim()
}

/// The `metadata.name` of a document (its first `  name:` line under `metadata:`).
fn name(doc: &str) -> &str {
    let meta = &doc[doc.find("\nmetadata:\n").expect("metadata")..];
    meta.lines()
        .find_map(|l| l.strip_prefix("  name: "))
        .unwrap()
        .trim()
}

fn kinds(manifests: &str) -> Vec<(String, String)> {
    documents(manifests)
        .iter()
        .map(|d| (kind(d).to_owned(), name(d).to_owned()))
        .collect()
}

const ALL_ON: &[&str] = &[
    "metrics.serviceMonitor.enabled=true",
    "podDisruptionBudget.enabled=true",
    "networkPolicy.enabled=true",
    "replicaCount=2",
];
const SEALED_ONLY: &[&str] = &["external.enabled=false"];
const EXTERNAL_ONLY: &[&str] = &["sealed.enabled=false"];
/// sealed-secrets' chart values for its controller flags, each away from its default.
const SEALED_FLAGS: &[&str] = &[
    "sealed.skipRecreate=true",
    "sealed.maxRetries=0",
    "sealed.rateLimit=10",
    "sealed.rateLimitBurst=0",
    "sealed.additionalNamespaces={team-a,team-b}",
];

fn renders() -> Vec<(&'static str, String)> {
    vec![
        ("defaults", render(&[])),
        ("every feature on", render(ALL_ON)),
        ("sealed only", render(SEALED_ONLY)),
        ("external only", render(EXTERNAL_ONLY)),
    ]
}

#[test]
fn chart_lints_strict() {
    let out = Command::new(tool("SEALBOX_HELM"))
        .args(["lint", "--strict"])
        .arg(chart())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm lint --strict: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn chart_renders_pass_kubernetes_schema_validation() {
    let dir = tempfile::tempdir().unwrap();
    for (label, manifests) in renders() {
        // CRs have no schema in kubernetes-validate (it only warns); every built-in kind,
        // CRDs included, is validated strictly.
        let file = dir.path().join("rendered.yaml");
        std::fs::write(&file, &manifests).unwrap();
        let out = Command::new(tool("SEALBOX_KUBERNETES_VALIDATE"))
            .args(["--strict", "-k", "1.33"])
            .arg(&file)
            .output()
            .unwrap();
        let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(
            out.status.success(),
            "{label}: kubernetes-validate: {report}"
        );
        for (kind, name) in kinds(&manifests) {
            if kind == "ServiceMonitor" {
                continue;
            }
            assert!(
                report.contains(&format!(
                    "passed for resource {}/{name} against version 1.33",
                    kind.to_lowercase()
                )),
                "{label}: {kind}/{name} was not validated: {report}"
            );
        }
    }
}

#[test]
fn chart_renders_are_byte_identical() {
    for sets in [&[][..], ALL_ON] {
        assert_eq!(render(sets), render(sets), "two renders of {sets:?} differ");
    }
}

#[test]
fn chart_crds_are_crdgens_output() {
    let out = Command::new(crdgen_bin()).output().unwrap();
    assert!(out.status.success(), "crdgen: {}", text(&out.stderr));
    let file = std::fs::read(chart().join("files/crds.yaml")).unwrap();
    assert!(
        file == out.stdout,
        "charts/sealbox/files/crds.yaml differs from crdgen's output: run \
         `cargo run -q -p sealbox-controller --bin crdgen > charts/sealbox/files/crds.yaml`"
    );
    // Rendered: the same CRDs, kept on uninstall, each small enough for client-side apply
    // (its last-applied annotation must stay under 256 KiB).
    let crds: Vec<String> = documents(&render(&[]))
        .into_iter()
        .filter(|d| kind(d) == "CustomResourceDefinition")
        .collect();
    let names: Vec<&str> = crds.iter().map(|d| name(d)).collect();
    assert_eq!(
        names,
        [
            "sealedsecrets.bitnami.com",
            "externalsecrets.external-secrets.io",
            "secretstores.external-secrets.io",
            "clustersecretstores.external-secrets.io",
            "clusterexternalsecrets.external-secrets.io",
        ]
    );
    for crd in &crds {
        assert!(
            crd.contains("\nmetadata:\n  annotations:\n    helm.sh/resource-policy: keep\n"),
            "{} is not kept on uninstall",
            name(crd)
        );
        assert!(crd.len() < 200_000, "{} is {} bytes", name(crd), crd.len());
        let generated = crd.replace("  annotations:\n    helm.sh/resource-policy: keep\n", "");
        assert!(
            text(&out.stdout).contains(generated.trim()),
            "rendered {} is not crdgen's",
            name(crd)
        );
    }
    // Off: no CRDs.
    assert!(
        !render(&["crds.install=false"]).contains("kind: CustomResourceDefinition"),
        "crds.install=false still renders CRDs"
    );
}

#[test]
fn chart_rbac_has_no_wildcards_and_only_the_enabled_controllers() {
    for (label, manifests) in renders() {
        for doc in documents(&manifests) {
            if !["ClusterRole", "Role"].contains(&kind(&doc)) {
                continue;
            }
            let rules = &doc[doc.find("\nrules:\n").expect("rules")..];
            assert!(
                !rules.contains('*'),
                "{label}: {} has a wildcard: {rules}",
                name(&doc)
            );
        }
    }
    let rbac = |manifests: &str| -> String {
        documents(manifests)
            .into_iter()
            .filter(|d| ["ClusterRole", "Role"].contains(&kind(d)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let sealed = render(SEALED_ONLY);
    let external = render(EXTERNAL_ONLY);
    assert!(rbac(&sealed).contains("bitnami.com"));
    assert!(
        !rbac(&sealed).contains("external-secrets.io")
            && !rbac(&sealed).contains("serviceaccounts")
            && !rbac(&sealed).contains("namespaces"),
        "sealed-only RBAC grants External Secrets' rights: {}",
        rbac(&sealed)
    );
    assert!(rbac(&external).contains("external-secrets.io"));
    assert!(
        !rbac(&external).contains("bitnami.com"),
        "external-only RBAC grants Sealed Secrets' rights: {}",
        rbac(&external)
    );
    // Nor their CRDs, or (external only) the kubeseal Service.
    assert!(!sealed.contains("external-secrets.io/v1"));
    assert!(!external.contains("name: sealedsecrets.bitnami.com"));
    assert!(!external.contains("name: sealed-secrets-controller"));
}

#[test]
fn chart_default_install_is_what_kubeseal_finds_and_restricted() {
    let manifests = render(&[]);
    let docs = documents(&manifests);
    let service = docs
        .iter()
        .find(|d| kind(d) == "Service" && name(d) == "sealed-secrets-controller")
        .expect("the kubeseal Service is named sealed-secrets-controller");
    assert!(
        service.contains("\n  namespace: kube-system\n"),
        "{service}"
    );
    assert!(service.contains("port: 8080"), "{service}");
    let deployment = docs.iter().find(|d| kind(d) == "Deployment").unwrap();
    for want in [
        "runAsNonRoot: true",
        "runAsUser: 65532",
        "readOnlyRootFilesystem: true",
        "allowPrivilegeEscalation: false",
        "- ALL",
        "type: RuntimeDefault",
        "fieldPath: metadata.namespace",
        "name: RUST_LOG",
        "path: /healthz",
        "requests:",
        "limits:",
        "- --listen-addr=:8080",
        "- --listen-metrics-addr=:8081",
        "- --sealed-secrets=true",
        "- --external-secrets=true",
        "- --key-renew-period=720h",
    ] {
        assert!(deployment.contains(want), "Deployment lacks {want}");
    }
    let default_kinds: Vec<String> = kinds(&manifests).into_iter().map(|(k, _)| k).collect();
    for optional in ["ServiceMonitor", "PodDisruptionBudget", "NetworkPolicy"] {
        assert!(
            !default_kinds.iter().any(|k| k == optional),
            "{optional} rendered by default"
        );
    }
    let all: Vec<String> = kinds(&render(ALL_ON)).into_iter().map(|(k, _)| k).collect();
    for want in ["ServiceMonitor", "PodDisruptionBudget", "NetworkPolicy"] {
        assert!(
            all.iter().any(|k| k == want),
            "every feature on lacks {want}"
        );
    }
}

/// The rendered container's arguments are ones sealbox-controller accepts: it parses them and
/// gets as far as looking for a cluster.
#[test]
fn chart_controller_accepts_the_rendered_arguments() {
    for sets in [
        &[
            "sealed.keyRenewPeriod=0",
            "sealed.keyCutoffTime=Mon\\, 30 Nov 2026 10:00:00 +0000",
        ][..],
        &[],
        SEALED_ONLY,
        EXTERNAL_ONLY,
        &["leaderElection.enabled=false"],
        SEALED_FLAGS,
    ] {
        let args = container_args(&render(sets));
        assert!(args.len() >= 4, "{args:?}");
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(controller_bin())
            .args(&args)
            .env_clear()
            .env("KUBECONFIG", dir.path().join("none"))
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains("cannot configure the Kubernetes client"),
            "{sets:?}: sealbox-controller {args:?}: {stderr}"
        );
    }
}

fn container_args(manifests: &str) -> Vec<String> {
    let deployment = documents(manifests)
        .into_iter()
        .find(|d| kind(d) == "Deployment")
        .unwrap();
    let block = &deployment[deployment.find("\n          args:\n").unwrap()..];
    block
        .lines()
        .skip(2)
        .map_while(|l| l.strip_prefix("            - "))
        .map(|a| a.trim_matches('"').to_owned())
        .collect()
}

/// Leader election is on by default: upgrades roll (the new pod takes over the Lease), more
/// replicas are allowed, and the Lease is the one thing the extra Role grants. Without it, one
/// replica and `Recreate`.
#[test]
fn chart_runs_several_replicas_only_with_leader_election() {
    let two = render(&["replicaCount=2"]);
    assert!(two.contains("replicas: 2") && two.contains("type: RollingUpdate"));
    let args = container_args(&two);
    for flag in [
        "--enable-leader-election=true",
        "--leader-election-id=sealbox",
        "--leader-election-lease-duration=15s",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} not in {args:?}");
    }
    let lease_role = documents(&two)
        .into_iter()
        .find(|d| kind(d) == "Role" && name(d) == "sealbox-leader-election")
        .expect("a Role for the Lease");
    assert!(
        lease_role.contains("resources: [\"leases\"]")
            && lease_role.contains("resourceNames: [\"sealbox\"]"),
        "{lease_role}"
    );

    let off = render(&["leaderElection.enabled=false"]);
    assert!(off.contains("type: Recreate") && !off.contains("leases"));
    assert!(container_args(&off).contains(&"--enable-leader-election=false".to_owned()));
    let out = template(&["replicaCount=2", "leaderElection.enabled=false"]);
    assert!(
        !out.status.success(),
        "two replicas without leader election rendered"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("replicaCount > 1 needs leaderElection.enabled=true"),
        "{stderr}"
    );
}

/// sealed-secrets' `skipRecreate`, `maxRetries`, `rateLimit`, `rateLimitBurst` and
/// `additionalNamespaces` become the controller's flags; only with additional namespaces does
/// the ClusterRole grant `get` on namespaces (the controller looks each one up).
#[test]
fn chart_passes_sealed_secrets_controller_values_as_flags() {
    let defaults = render(&[]);
    let args = container_args(&defaults);
    for flag in [
        "--skip-recreate=false",
        "--max-unseal-retries=5",
        "--rate-limit=2",
        "--rate-limit-burst=2",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} not in {args:?}");
    }
    assert!(
        !args
            .iter()
            .any(|a| a.starts_with("--additional-namespaces"))
    );
    let cluster_role = |manifests: &str| {
        documents(manifests)
            .into_iter()
            .find(|d| kind(d) == "ClusterRole" && name(d) == "sealbox-sealed-secrets")
            .expect("the sealed-secrets ClusterRole")
    };
    assert!(!cluster_role(&defaults).contains("namespaces"));

    let set = render(SEALED_FLAGS);
    let args = container_args(&set);
    for flag in [
        "--skip-recreate=true",
        "--max-unseal-retries=0",
        "--rate-limit=10",
        "--rate-limit-burst=0",
        "--additional-namespaces=team-a,team-b",
    ] {
        assert!(args.iter().any(|a| a == flag), "{flag} not in {args:?}");
    }
    assert!(cluster_role(&set).contains("resources: [\"namespaces\"]"));
    for bad in [
        "sealed.rateLimit=0",
        "sealed.maxRetries=-1",
        "sealed.additionalNamespaces={Team_A}",
    ] {
        assert!(!template(&[bad]).status.success(), "{bad} rendered");
    }
}

#[test]
fn chart_schema_rejects_unknown_values() {
    let out = template(&["sealed.keyRenewPeriode=1h"]);
    assert!(!out.status.success(), "a misspelt value rendered");
    assert!(
        text(&out.stderr).contains("keyRenewPeriode"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn dockerfile_passes_hadolint() {
    let out = Command::new(tool("SEALBOX_HADOLINT"))
        .arg(root().join("Dockerfile"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "hadolint Dockerfile: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
