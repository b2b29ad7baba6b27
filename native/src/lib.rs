//! rsft native kernel: random streams, samplers, an expression VM and the accept/compact
//! kernel, exposed to Node through raw N-API (no crates). See ../PROTOCOL.md.
pub mod rng;
pub mod fastmath;
pub mod special;
pub mod dist;
pub mod expr;
pub mod kernel;
pub mod density;
pub mod squeeze;
pub mod copy;
pub mod lease;
pub mod pages;
// Not compiled into `cargo test` binaries: the napi_* symbols exist only inside node.
#[cfg(not(test))]
mod napi;
