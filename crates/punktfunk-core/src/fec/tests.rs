use super::*;
use proptest::prelude::*;

fn random_shards(k: usize, s: usize, seed: u64) -> Vec<Vec<u8>> {
    (0..k as u64)
        .map(|i| crate::testsrc::pattern_bytes(seed ^ i, s))
        .collect()
}

/// Encodes, erases `lost` (indices over data ‖ recovery), reconstructs, and returns the rebuilt data.
fn round_trip(
    scheme: FecScheme,
    k: usize,
    m: usize,
    s: usize,
    lost: &[usize],
    seed: u64,
) -> Result<Vec<u8>, FecError> {
    let shards = random_shards(k, s, seed);
    let refs: Vec<&[u8]> = shards.iter().map(|v| v.as_slice()).collect();
    let mut recovery = vec![0u8; m * s];
    FecEncoder::new().encode(scheme, &refs, &mut recovery, s)?;
    let mut data: Vec<u8> = shards.concat();
    let mut data_present = vec![true; k];
    let mut recovery_present = vec![true; m];
    for &l in lost {
        if l < k {
            data_present[l] = false;
            data[l * s..(l + 1) * s].fill(0xAA);
        } else {
            recovery_present[l - k] = false;
        }
    }
    let block = ReceivedBlock {
        shard_bytes: s,
        data: &mut data,
        data_present: &data_present,
        recovery: &recovery,
        recovery_present: &recovery_present,
    };
    FecDecoder::new().reconstruct(scheme, block)?;
    assert_eq!(
        data,
        shards.concat(),
        "{scheme:?} k={k} m={m} lost={lost:?}"
    );
    Ok(data)
}

#[test]
fn field_is_moonlights() {
    // GameStream's GF(2⁸) uses the polynomial x⁸+x⁴+x³+x²+1 (0x11D).
    assert_eq!(reed_solomon_erasure::galois_8::mul(0x80, 2), 0x1D);
    assert_eq!(
        gf8::coefficient(2, 0, 0),
        reed_solomon_erasure::galois_8::div(1, 2)
    );
}

#[test]
fn scheme_choice() {
    assert_eq!(choose_scheme(10, 0, 64), FecScheme::None);
    assert_eq!(choose_scheme(64, 13, 64), FecScheme::Gf8Cauchy);
    assert_eq!(choose_scheme(65, 13, 64), FecScheme::Gf16Leopard);
    assert_eq!(choose_scheme(200, 60, 255), FecScheme::Gf16Leopard);
}

#[test]
fn too_many_losses_is_an_error_not_a_panic() {
    for scheme in [FecScheme::Gf8Cauchy, FecScheme::Gf16Leopard] {
        let r = round_trip(scheme, 8, 2, 64, &[0, 1, 2], 7);
        assert!(
            matches!(r, Err(FecError::NotEnoughShards { .. })),
            "{scheme:?}: {r:?}"
        );
    }
}

#[test]
fn gf8_rejects_oversized_blocks() {
    let shards = random_shards(250, 2, 1);
    let refs: Vec<&[u8]> = shards.iter().map(|v| v.as_slice()).collect();
    let mut recovery = vec![0u8; 10 * 2];
    let r = FecEncoder::new().encode(FecScheme::Gf8Cauchy, &refs, &mut recovery, 2);
    assert!(matches!(r, Err(FecError::Unsupported { .. })));
}

fn loss_pattern() -> impl Strategy<Value = (usize, usize, usize, Vec<usize>, u64)> {
    (1usize..60, 1usize..20, 1usize..40).prop_flat_map(|(k, m, half)| {
        let lost = proptest::sample::subsequence((0..k + m).collect::<Vec<_>>(), 0..=m);
        (Just(k), Just(m), Just(half * 2), lost, any::<u64>())
    })
}

proptest! {
    /// Any pattern of at most `m` lost shards rebuilds the block byte-exact, for both schemes.
    #[test]
    fn any_loss_up_to_parity_recovers((k, m, s, lost, seed) in loss_pattern()) {
        for scheme in [FecScheme::Gf8Cauchy, FecScheme::Gf16Leopard] {
            prop_assert!(round_trip(scheme, k, m, s, &lost, seed).is_ok());
        }
    }

    /// Large GF(2⁸) blocks near the 255-shard limit.
    #[test]
    fn gf8_full_size_blocks(k in 180usize..220, lost_seed in any::<u64>()) {
        let m = 255 - k;
        let mut lost: Vec<usize> = (0..k + m).collect();
        let mut x = lost_seed | 1;
        for i in (1..lost.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            lost.swap(i, (x % (i as u64 + 1)) as usize);
        }
        lost.truncate(m);
        prop_assert!(round_trip(FecScheme::Gf8Cauchy, k, m, 16, &lost, lost_seed).is_ok());
    }
}
