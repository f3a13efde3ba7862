//! Rate and redundancy control as pure functions of receiver feedback.

mod fec_policy;

pub use fec_policy::{FecPolicy, recommend_parity};
