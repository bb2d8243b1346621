//! Tooling shared by `cargo xtask` and the tests: packing the krew archive, its sha256,
//! rendering the krew manifest from its template and krew's own validation rules; building and
//! starting the real stack (`realstack`).

pub mod crd_structure;
pub mod krew;
pub mod layers;
pub mod pack;
pub mod realstack;
