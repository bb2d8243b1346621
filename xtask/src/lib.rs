//! Release tooling shared by `cargo xtask release` and the tests: packing the krew archive,
//! its sha256, rendering the krew manifest from its template, and krew's own validation rules.

pub mod krew;
pub mod pack;
