//! Prints the SealedSecret CustomResourceDefinition as YAML.
use kube::CustomResourceExt;

fn main() {
    let crd = sealbox_controller::crd::sealed::SealedSecret::crd();
    print!(
        "{}",
        serde_saphyr::to_string(&crd).expect("the CRD serialises")
    );
}
