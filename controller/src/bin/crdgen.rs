//! Prints every CustomResourceDefinition sealbox-controller serves, as one YAML stream:
//! SealedSecret, then the four `external-secrets.io` CRDs.
use kube::CustomResourceExt;

fn main() {
    let mut crds = vec![sealbox_controller::crd::sealed::SealedSecret::crd()];
    crds.extend(sealbox_controller::crd::external::crds());
    for crd in crds {
        print!(
            "---\n{}",
            serde_saphyr::to_string(&crd).expect("the CRD serialises")
        );
    }
}
