//! punktfunk native client library: loss models, the data-plane loss sweep, and (with the
//! punktfunk/1 control plane) the code behind `punktfunk-probe`.

pub mod discover;
pub mod impair;
pub mod loss_sweep;
pub mod netem;
pub mod session;
pub mod tls;
