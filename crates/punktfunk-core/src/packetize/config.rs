//! Sender-side knobs: datagram size and FEC strength.

use crate::crypto::TAG_LEN;
use crate::wire::{HEADER_LEN, StreamKind};

/// FEC strength and block geometry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FecConfig {
    /// Recovery shards per block as a percentage of its data shards (rounded up).
    pub parity_percent: u16,
    /// Floor on recovery shards per block (so one- and two-shard frames still survive a loss).
    pub min_parity: u16,
    /// Upper bound on data shards per block; larger frames are split into several blocks, whose
    /// datagrams are interleaved on the wire so that a loss burst is shared between them.
    pub max_data_per_block: u16,
    /// Blocks with at most this many data shards (and ≤ 255 shards in all) use GF(2⁸) Cauchy;
    /// larger ones use Leopard GF(2¹⁶). The default is the crossover measured in `benches/fec.rs`.
    pub gf8_max_data: u16,
}

impl Default for FecConfig {
    /// Geometry for the FEC kernel this CPU runs ([`crate::fec::gf8_kernel::active_kernel`]), from the
    /// measurements in `docs/performance.md`:
    ///
    /// - With GFNI, GF(2⁸) encodes faster than Leopard at every block size it supports and recovers
    ///   10–100× faster, so every block that fits in 255 shards uses it, and frames are cut into
    ///   blocks of ≤ 128 data shards (a 1 Gbps frame at 120 fps: six blocks of 125 + 25). At 5 % iid
    ///   loss such a frame is lost with probability ≈ 10⁻⁷; interleaving keeps bursts from piling
    ///   into one block.
    /// - With the table multiply, GF(2⁸) encode costs O(k·m) at a sixth of that speed, so blocks
    ///   above 128 data shards use Leopard and frames go out as blocks of up to 1024 data shards.
    fn default() -> Self {
        let (max_data_per_block, gf8_max_data) = match crate::fec::gf8_kernel::active_kernel() {
            crate::fec::gf8_kernel::Gf8Kernel::Table => (1024, 128),
            _ => (128, 255),
        };
        FecConfig {
            parity_percent: 20,
            min_parity: 2,
            max_data_per_block,
            gf8_max_data,
        }
    }
}

impl FecConfig {
    /// No recovery shards at all.
    pub fn disabled() -> Self {
        FecConfig {
            parity_percent: 0,
            min_parity: 0,
            ..Self::default()
        }
    }

    /// Recovery shards for a block of `data` data shards.
    pub fn recovery_for(&self, data: u32) -> u32 {
        let pct = (data * u32::from(self.parity_percent)).div_ceil(100);
        let m = pct.max(u32::from(self.min_parity));
        // Keep every block within the wire limit of 32 768 shards.
        m.min(crate::wire::MAX_BLOCK_SHARDS.saturating_sub(data))
    }
}

/// Largest data-shard count per block: half the wire's 32 768-shard block limit, leaving the other
/// half for recovery shards. Larger `max_data_per_block` values are treated as this.
pub const MAX_DATA_PER_BLOCK: u16 = 16_384;

/// Everything the packetizer needs to know about its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketizerConfig {
    /// Stream the packetizer sends (selects the key label and header kind).
    pub kind: StreamKind,
    /// Session id from the control plane's Welcome.
    pub session_id: u32,
    /// Largest UDP payload to produce. 1452 fits a 1500-byte MTU over IPv6 (and IPv4);
    /// up to 65 507 for jumbo frames or loopback.
    pub max_datagram: usize,
    /// FEC scheme choice, parity percentage and block size limits.
    pub fec: FecConfig,
}

/// UDP payload that fits a 1500-byte MTU on IPv6 (1500 − 40 IPv6 − 8 UDP).
pub const MTU_1500_DATAGRAM: usize = 1452;

impl PacketizerConfig {
    /// Defaults for `kind` in `session_id`: 1452-byte datagrams and the default FEC.
    pub fn new(kind: StreamKind, session_id: u32) -> Self {
        PacketizerConfig {
            kind,
            session_id,
            max_datagram: MTU_1500_DATAGRAM,
            fec: FecConfig::default(),
        }
    }

    /// Largest shard payload: what is left of a datagram after header and tag, rounded down to even
    /// (Leopard needs even shard sizes) and capped by the 16-bit shard-size field.
    pub fn max_shard_bytes(&self) -> usize {
        let datagram = self.max_datagram.min(crate::crypto::MAX_DATAGRAM);
        let room = datagram
            .saturating_sub(HEADER_LEN + TAG_LEN)
            .min(usize::from(u16::MAX));
        room & !1
    }
}
