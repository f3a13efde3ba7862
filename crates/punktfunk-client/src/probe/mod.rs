//! The tools of `punktfunk-probe` beyond being a client: the userspace netem relay ([`netem`],
//! `tc netem` for machines without it) with its pure impairment models ([`impair`]), the
//! data-plane loss sweep ([`loss_sweep`]) and the tone analysis of received audio
//! ([`audio_analysis`]). Tests of the host use them too (crates/punktfunk-e2e).

pub mod audio_analysis;
pub mod impair;
pub mod loss_sweep;
pub mod netem;
