//! The loss sweep: realistic video frame streams pushed through the real data-plane core (packetize,
//! FEC, seal → loss → open, recover, reassemble) under iid and bursty loss, with fixed and adaptive FEC.
//!
//! Time is simulated (frames are `1/fps` apart), so the sweep measures the protocol, not this machine.

use crate::probe::impair::{LossModel, LossProcess, Rng};
use punktfunk_core::abr::{FecPolicy, recommend_parity};
use punktfunk_core::crypto::{Opener, SessionKeys};
use punktfunk_core::packetize::{
    DatagramBatch, Event, FecConfig, FrameInput, LossStats, Packetizer, PacketizerConfig,
    Reassembler, ReassemblerConfig,
};
use punktfunk_core::wire::StreamKind;
use serde::Serialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A stream profile: frame rate and bitrate decide the mean frame size.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Profile {
    pub name: &'static str,
    pub fps: u32,
    pub bitrate_bps: u64,
}

pub const PROFILES: [Profile; 2] = [
    Profile {
        name: "1080p60 20Mbps",
        fps: 60,
        bitrate_bps: 20_000_000,
    },
    Profile {
        name: "4K120 300Mbps",
        fps: 120,
        bitrate_bps: 300_000_000,
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FecMode {
    /// 20 % parity (at least 2 recovery shards per block), whatever happens.
    Fixed,
    /// Parity from [`recommend_parity`] on the receiver's reports, every 100 ms.
    Adaptive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    Iid,
    /// Gilbert–Elliott with mean bursts of [`BURST_LEN`] packets.
    Burst,
}

/// Mean burst length of the bursty model.
pub const BURST_LEN: f64 = 4.0;
/// How often the simulated receiver reports and the sender adapts.
const REPORT_INTERVAL: Duration = Duration::from_millis(100);
/// Reports the adaptive policy looks back over.
const HISTORY: usize = 10;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct SweepCase {
    pub profile: Profile,
    pub loss: LossKind,
    pub loss_percent: f64,
    pub fec: FecMode,
    pub frames: u32,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepResult {
    pub case: SweepCase,
    pub frames_sent: u32,
    pub frames_delivered: u32,
    pub delivered_percent: f64,
    pub packets_sent: u64,
    pub packets_lost: u64,
    pub measured_loss_percent: f64,
    pub recovered_shards: u64,
    /// Recovery bytes as a percentage of data bytes.
    pub overhead_percent: f64,
    pub final_parity_percent: u16,
}

/// Frame sizes a real encoder produces: P-frames around the mean, a keyframe of 4× every 5 s.
fn frame_size(profile: &Profile, index: u32, rng: &mut Rng) -> usize {
    let mean = profile.bitrate_bps as f64 / 8.0 / f64::from(profile.fps);
    let scale = if index.is_multiple_of(profile.fps * 5) {
        4.0
    } else {
        0.7 + 0.6 * rng.unit()
    };
    ((mean * scale) as usize).max(1)
}

/// Runs one case through the core.
pub fn run_case(case: SweepCase) -> anyhow::Result<SweepResult> {
    let session = 1;
    let keys = SessionKeys::derive(&case.seed.to_le_bytes().repeat(4), session)?;
    let fixed = FecConfig {
        parity_percent: 20,
        min_parity: 2,
        ..FecConfig::default()
    };
    let policy = FecPolicy::default();
    let mut config = PacketizerConfig::new(StreamKind::Video, session);
    // Adaptive starts where fixed stays (20 %) until the first report arrives.
    config.fec = fixed;
    let mut tx = Packetizer::new(config, &keys.host_to_client)?;
    let mut opener = Opener::new(&keys.host_to_client, session)?;
    let mut rx = Reassembler::new(ReassemblerConfig::default());
    let p = case.loss_percent / 100.0;
    let model = match case.loss {
        _ if p <= 0.0 => LossModel::None,
        LossKind::Iid => LossModel::Iid { p },
        LossKind::Burst => LossModel::bursty(p, BURST_LEN),
    };
    let mut loss = LossProcess::new(model, case.seed);
    let mut sizes = Rng::new(case.seed.wrapping_add(1));

    let interval = Duration::from_secs(1) / case.profile.fps;
    let start = Instant::now();
    let mut batch = DatagramBatch::new();
    let mut scratch = Vec::new();
    let mut history: VecDeque<LossStats> = VecDeque::new();
    let mut next_report = start + REPORT_INTERVAL;
    let (mut delivered, mut packets_sent, mut packets_lost) = (0u32, 0u64, 0u64);
    let (mut data_shards, mut recovery_shards, mut recovered) = (0u64, 0u64, 0u64);
    let mut largest_block;
    let mut data = Vec::new();

    let drain = |rx: &mut Reassembler, delivered: &mut u32, recovered: &mut u64| {
        while let Some(event) = rx.poll_event() {
            if let Event::Frame(f) = event {
                *delivered += 1;
                *recovered += u64::from(f.timing.recovered_shards);
            }
        }
    };

    for index in 0..case.frames {
        let now = start + interval * index;
        let len = frame_size(&case.profile, index, &mut sizes);
        data.clear();
        data.extend((0..len).map(|i| (i as u32 ^ index) as u8));
        let summary = tx.packetize(
            FrameInput {
                data: &data,
                pts_us: u64::from(index) * 1000,
                keyframe: index == 0,
                recovery_point: false,
            },
            &mut batch,
        )?;
        data_shards += u64::from(summary.data_shards);
        recovery_shards += u64::from(summary.recovery_shards);
        largest_block = summary.data_shards.div_ceil(u32::from(summary.blocks));
        for datagram in batch.iter() {
            packets_sent += 1;
            if loss.drop_next() {
                packets_lost += 1;
                continue;
            }
            scratch.clear();
            scratch.extend_from_slice(datagram);
            // Rejections cannot happen on this clean channel; they would show up as undelivered frames.
            let _ = rx.receive(now, &mut opener, &mut scratch);
        }
        rx.handle_timeout(now);
        drain(&mut rx, &mut delivered, &mut recovered);

        if now >= next_report {
            next_report += REPORT_INTERVAL;
            history.push_back(rx.take_loss_window());
            if history.len() > HISTORY {
                history.pop_front();
            }
            if case.fec == FecMode::Adaptive {
                let pct = recommend_parity(history.make_contiguous(), largest_block, &policy);
                tx.set_fec(FecConfig {
                    parity_percent: pct,
                    ..tx.config().fec
                });
            }
        }
    }
    // Let the last frames finish or time out.
    rx.handle_timeout(start + interval * case.frames + Duration::from_secs(1));
    drain(&mut rx, &mut delivered, &mut recovered);

    Ok(SweepResult {
        case,
        frames_sent: case.frames,
        frames_delivered: delivered,
        delivered_percent: 100.0 * f64::from(delivered) / f64::from(case.frames.max(1)),
        packets_sent,
        packets_lost,
        measured_loss_percent: 100.0 * packets_lost as f64 / packets_sent.max(1) as f64,
        recovered_shards: recovered,
        overhead_percent: 100.0 * recovery_shards as f64 / data_shards.max(1) as f64,
        final_parity_percent: tx.config().fec.parity_percent,
    })
}

/// Every combination of profile × loss model × loss rate × FEC mode.
pub fn sweep_cases(seconds: u32, seed: u64) -> Vec<SweepCase> {
    let mut cases = Vec::new();
    for profile in PROFILES {
        for loss in [LossKind::Iid, LossKind::Burst] {
            for loss_percent in [1.0, 2.0, 5.0, 10.0, 20.0] {
                for fec in [FecMode::Fixed, FecMode::Adaptive] {
                    cases.push(SweepCase {
                        profile,
                        loss,
                        loss_percent,
                        fec,
                        frames: seconds * profile.fps,
                        seed,
                    });
                }
            }
        }
    }
    cases
}

/// The results as a Markdown table (the format `docs/performance.md` records).
pub fn render_table(results: &[SweepResult]) -> String {
    let mut out = String::from(
        "| stream | loss model | loss % | FEC | frames | delivered % | measured loss % | recovered shards | FEC overhead % | final parity % |\n\
         |---|---|---:|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        let c = &r.case;
        let model = match c.loss {
            LossKind::Iid => "iid".to_string(),
            LossKind::Burst => format!("Gilbert–Elliott (bursts of {BURST_LEN})"),
        };
        let fec = match c.fec {
            FecMode::Fixed => "fixed 20%",
            FecMode::Adaptive => "adaptive",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {:.1} | {} |\n",
            c.profile.name,
            model,
            c.loss_percent,
            fec,
            r.frames_sent,
            r.delivered_percent,
            r.measured_loss_percent,
            r.recovered_shards,
            r.overhead_percent,
            r.final_parity_percent
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(loss: LossKind, loss_percent: f64, fec: FecMode, seconds: u32) -> SweepCase {
        SweepCase {
            profile: PROFILES[0],
            loss,
            loss_percent,
            fec,
            frames: seconds * 60,
            seed: 1,
        }
    }

    #[test]
    fn clean_channel_delivers_everything_with_the_floor_overhead() {
        let r = run_case(case(LossKind::Iid, 0.0, FecMode::Adaptive, 5)).unwrap();
        assert_eq!(r.frames_delivered, r.frames_sent);
        assert_eq!(r.final_parity_percent, FecPolicy::default().min_percent);
    }

    /// The acceptance bar: ≥ 99.9 % of frames at 5 % iid loss with adaptive FEC.
    #[test]
    fn adaptive_fec_delivers_999_permille_at_5_percent_iid() {
        let r = run_case(case(LossKind::Iid, 5.0, FecMode::Adaptive, 60)).unwrap();
        assert!(r.delivered_percent >= 99.9, "{r:?}");
        assert!((r.measured_loss_percent - 5.0).abs() < 0.5, "{r:?}");
        assert!(r.recovered_shards > 0);
    }

    #[test]
    fn adaptive_beats_fixed_under_heavy_loss() {
        let fixed = run_case(case(LossKind::Iid, 20.0, FecMode::Fixed, 10)).unwrap();
        let adaptive = run_case(case(LossKind::Iid, 20.0, FecMode::Adaptive, 10)).unwrap();
        assert!(
            adaptive.delivered_percent > fixed.delivered_percent + 10.0,
            "{fixed:?} {adaptive:?}"
        );
    }
}
