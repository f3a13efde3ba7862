//! How a frame's data shards are split into FEC blocks.
//!
//! Both ends derive the split from `(total data shards, block count)` alone, so a receiver can place any
//! shard of any block at its byte offset without having seen the other blocks: the shards are spread as
//! evenly as possible, and the first `total % count` blocks carry one extra shard.

/// The split of `total` data shards into `count` blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLayout {
    total: u32,
    count: u32,
}

impl BlockLayout {
    /// `count` must be in `1..=total`; callers validate that before asking.
    pub fn new(total: u32, count: u16) -> Self {
        debug_assert!(count >= 1 && u32::from(count) <= total);
        BlockLayout {
            total,
            count: u32::from(count).max(1),
        }
    }

    /// The fewest blocks that keep every block at or below `max_per_block` data shards.
    pub fn for_max_block(total: u32, max_per_block: u32) -> Option<Self> {
        let count = total.div_ceil(max_per_block.max(1));
        Some(BlockLayout {
            total,
            count: u16::try_from(count).ok()?.into(),
        })
    }

    /// Number of blocks the frame is split into.
    pub fn block_count(&self) -> u16 {
        self.count as u16
    }

    /// Data shards of the whole frame over all blocks.
    pub fn total_data_shards(&self) -> u32 {
        self.total
    }

    /// Data shards in block `index`.
    pub fn data_shards(&self, index: u16) -> u32 {
        let base = self.total / self.count;
        base + u32::from(u32::from(index) < self.total % self.count)
    }

    /// Index of the first data shard of block `index` within the frame.
    pub fn first_shard(&self, index: u16) -> u32 {
        let i = u32::from(index);
        let base = self.total / self.count;
        i * base + i.min(self.total % self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn blocks_tile_the_frame(total in 1u32..100_000, max in 1u32..2_000) {
            let layout = BlockLayout::for_max_block(total, max).unwrap();
            let mut next = 0;
            for b in 0..layout.block_count() {
                prop_assert_eq!(layout.first_shard(b), next);
                let n = layout.data_shards(b);
                prop_assert!(n >= 1 && n <= max);
                next += n;
            }
            prop_assert_eq!(next, total);
        }
    }
}
