use super::*;
use proptest::prelude::*;

#[test]
fn fec_info_bit_layout() {
    let info = FecInfo {
        data_shards: 212,
        shard_index: 254,
        fec_percent: 20,
    };
    assert_eq!(info.encode(), (212 << 22) | (254 << 12) | (20 << 4));
    assert_eq!(FecInfo::decode(info.encode()), info);
    assert_eq!(info.parity_shards(), 43);
}

#[test]
fn minimum_parity_rewrites_the_percentage() {
    // 3 data shards at 20 % would get 1 parity shard; the client asks for at least 2.
    assert_eq!(block_parity(3, 20, 2), (2, 66));
    assert_eq!(block_parity(1, 20, 2), (2, 200));
    // Large blocks keep the configured percentage.
    assert_eq!(block_parity(100, 20, 2), (20, 20));
    assert_eq!(block_parity(10, 0, 2), (0, 0));
    // Above 100 shards the floored percentage would give 6 of the 7 required.
    assert_eq!(block_parity(200, 1, 7), (8, 4));
}

#[test]
fn a_minimum_the_percent_field_cannot_express_is_capped() {
    // 1 data shard with 3 required parity shards would need 300 %; the field is 8 bits.
    let (parity, field) = block_parity(1, 20, 3);
    assert_eq!(field, 255);
    assert_eq!(parity, client_parity_count(1, 255));
}

#[test]
fn large_frames_split_into_equal_blocks() {
    // At 20 % a block holds at most 25500 / 120 = 212 data shards.
    let plans = plan_frame(500, 20, 2).unwrap();
    assert_eq!(plans.len(), 3);
    assert_eq!(
        plans.iter().map(|p| p.data_shards).collect::<Vec<_>>(),
        [167, 167, 166]
    );
    assert!(plans.iter().all(|p| p.data_shards + p.parity_shards <= 255));
    assert_eq!(plans[2].first_shard, 334);
}

#[test]
fn frames_beyond_four_blocks_go_without_fec() {
    let plans = plan_frame(1000, 20, 2).unwrap();
    assert_eq!(plans.len(), 4);
    assert!(
        plans
            .iter()
            .all(|p| p.parity_shards == 0 && p.fec_percent == 0)
    );
    assert_eq!(plans.iter().map(|p| p.data_shards).sum::<usize>(), 1000);
    assert_eq!(
        plan_frame(4 * 1024, 20, 2),
        Err(GsFecError::FrameTooLarge { shards: 1024 })
    );
}

#[test]
fn audio_code_recovers_every_two_losses() {
    let shards: Vec<Vec<u8>> = (0..4u8)
        .map(|i| (0..37u8).map(|b| b.wrapping_mul(7) ^ (i * 31)).collect())
        .collect();
    let refs: Vec<&[u8]> = shards.iter().map(|s| s.as_slice()).collect();
    let mut code = AudioFec::new().unwrap();
    let mut parity = vec![0u8; 2 * 37];
    code.encode(&refs, &mut parity).unwrap();
    for a in 0..6 {
        for b in a..6 {
            let mut data = shards.concat();
            let mut data_present = [true; 4];
            let mut parity_present = [true; 2];
            for lost in [a, b] {
                if lost < 4 {
                    data_present[lost] = false;
                    data[lost * 37..(lost + 1) * 37].fill(0);
                } else {
                    parity_present[lost - 4] = false;
                }
            }
            code.reconstruct(ReceivedBlock {
                shard_bytes: 37,
                data: &mut data,
                data_present: &data_present,
                recovery: &parity,
                recovery_present: &parity_present,
            })
            .unwrap();
            assert_eq!(data, shards.concat(), "lost {a} and {b}");
        }
    }
}

proptest! {
    #[test]
    fn fec_info_round_trips(data in 0u16..1024, index in 0u16..1024, percent: u8) {
        let info = FecInfo { data_shards: data, shard_index: index, fec_percent: percent };
        prop_assert_eq!(FecInfo::decode(info.encode()), info);
    }

    #[test]
    fn fec_info_decode_never_panics(word: u32) {
        let info = FecInfo::decode(word);
        prop_assert_eq!(info.encode(), word & !0xF);
        let _ = info.parity_shards();
    }

    /// Whatever the settings, the plan covers the frame exactly, fits the GF(2⁸) code and the 10-bit
    /// fields, and the parity count is what the client will derive from the written percentage.
    #[test]
    fn plans_are_consistent(total in 1usize..4000, percent: u8, min_parity in 0usize..8) {
        match plan_frame(total, percent, min_parity) {
            Ok(plans) => {
                prop_assert!(!plans.is_empty() && plans.len() <= MAX_BLOCKS);
                let mut next = 0;
                for plan in &plans {
                    prop_assert_eq!(plan.first_shard, next);
                    prop_assert!(plan.data_shards > 0 && plan.data_shards <= MAX_SHARD_INDEX);
                    prop_assert_eq!(plan.parity_shards, client_parity_count(plan.data_shards, plan.fec_percent));
                    if plan.parity_shards > 0 {
                        prop_assert!(plan.data_shards + plan.parity_shards <= MAX_BLOCK_SHARDS);
                    }
                    next += plan.data_shards;
                }
                prop_assert_eq!(next, total);
            }
            Err(GsFecError::FrameTooLarge { shards }) => prop_assert!(shards > MAX_SHARD_INDEX),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}

#[test]
fn explicit_matrices_must_be_mds() {
    use crate::fec::Gf8Matrix;
    // Two equal rows: losing two data shards leaves a singular 2×2 system.
    assert_eq!(
        Gf8Matrix::new(2, 2, &[1, 2, 1, 2]).err(),
        Some(FecError::Geometry)
    );
    // A zero coefficient: that parity row cannot rebuild that data shard alone.
    assert_eq!(
        Gf8Matrix::new(2, 1, &[0, 1]).err(),
        Some(FecError::Geometry)
    );
    assert!(Gf8Matrix::new(4, 2, &AUDIO_PARITY_MATRIX[..7]).is_err());
    assert!(Gf8Matrix::new(4, 2, &AUDIO_PARITY_MATRIX).is_ok());
}
