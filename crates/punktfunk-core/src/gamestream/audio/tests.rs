//! The packetizer against a receiver written the way moonlight-common-c's RtpAudioQueue reads audio:
//! blocks of four by `sequence / 4`, parity found through its FEC header, RTP fields of recovered
//! packets rebuilt from the block's base sequence and timestamp.

use super::*;
use crate::fec::ReceivedBlock;
use proptest::prelude::*;
use std::collections::BTreeMap;

const ENC: AudioEncryption = AudioEncryption {
    key: *b"fedcba9876543210",
    key_id: -123_456_789,
};

fn opus(n: usize, len: usize) -> Vec<u8> {
    crate::testsrc::pattern_bytes(n as u64, len)
}

/// Recovers every data packet the datagrams determine: sequence → (timestamp, Opus packet).
fn receive(
    datagrams: &[Vec<u8>],
    encryption: Option<&AudioEncryption>,
    duration: u32,
) -> BTreeMap<u16, (u32, Vec<u8>)> {
    let mut data: BTreeMap<u16, (u32, Vec<u8>)> = BTreeMap::new();
    let mut parity: BTreeMap<(u16, u8), (u32, Vec<u8>)> = BTreeMap::new();
    for d in datagrams {
        match AudioPacket::parse(d).unwrap() {
            AudioPacket::Data {
                sequence,
                timestamp,
                payload,
            } => {
                data.insert(sequence, (timestamp, payload.to_vec()));
            }
            AudioPacket::Parity {
                shard_index,
                base_sequence,
                base_timestamp,
                parity: p,
            } => {
                assert_eq!(base_sequence % 4, 0);
                parity.insert((base_sequence, shard_index), (base_timestamp, p.to_vec()));
            }
        }
    }
    let mut fec = AudioFec::new().unwrap();
    let bases: Vec<u16> = parity.keys().map(|k| k.0).collect();
    for base in bases {
        let seqs: Vec<u16> = (0..4).map(|i| base.wrapping_add(i)).collect();
        let present: Vec<bool> = seqs.iter().map(|s| data.contains_key(s)).collect();
        let parity_present: Vec<bool> = (0..2).map(|x| parity.contains_key(&(base, x))).collect();
        let Some((base_ts, first)) = parity.get(&(base, 0)).or(parity.get(&(base, 1))).cloned()
        else {
            continue;
        };
        if present.iter().all(|p| *p) {
            continue;
        }
        let s = first.len();
        let mut block = vec![0u8; 4 * s];
        for (i, seq) in seqs.iter().enumerate() {
            if let Some((_, p)) = data.get(seq) {
                block[i * s..(i + 1) * s].copy_from_slice(p);
            }
        }
        let mut recovery = vec![0u8; 2 * s];
        for x in 0..2u8 {
            if let Some((_, p)) = parity.get(&(base, x)) {
                recovery[usize::from(x) * s..(usize::from(x) + 1) * s].copy_from_slice(p);
            }
        }
        let rebuilt = fec.reconstruct(ReceivedBlock {
            shard_bytes: s,
            data: &mut block,
            data_present: &present,
            recovery: &recovery,
            recovery_present: &parity_present,
        });
        if rebuilt.is_err() {
            continue;
        }
        for (i, seq) in seqs.iter().enumerate() {
            let ts = base_ts.wrapping_add(i as u32 * duration);
            data.entry(*seq)
                .or_insert_with(|| (ts, block[i * s..(i + 1) * s].to_vec()));
        }
    }
    data.into_iter()
        .map(|(seq, (ts, payload))| {
            let plain = match encryption {
                Some(e) => decrypt_payload(e, seq, &payload).unwrap(),
                None => payload,
            };
            (seq, (ts, plain))
        })
        .collect()
}

#[test]
fn data_and_parity_layout() {
    let mut p = AudioPacketizer::new(5, None).unwrap();
    let mut all = Vec::new();
    for n in 0..4 {
        let out = p.packetize(&opus(n, 120)).unwrap();
        assert_eq!(out.len(), if n == 3 { 3 } else { 1 });
        let d = &out[0];
        assert_eq!(d.len(), 12 + 120);
        assert_eq!(&d[..4], &[0x80, 97, 0, n as u8]);
        assert_eq!(&d[4..8], &(5 * n as u32).to_be_bytes());
        assert_eq!(&d[8..12], &[0; 4]);
        assert_eq!(&d[12..], opus(n, 120).as_slice());
        all.extend(out);
    }
    let parity0 = &all[4];
    assert_eq!(parity0.len(), 12 + 12 + 120);
    assert_eq!(&parity0[..4], &[0x80, 127, 0, 4]);
    assert_eq!(&parity0[4..12], &[0; 8]);
    assert_eq!(&parity0[12..24], &[0, 97, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&all[5][..4], &[0x80, 127, 0, 5]);
    assert_eq!(all[5][12], 1);

    // The second block's parity names its base sequence and timestamp.
    for n in 4..8 {
        all.extend(p.packetize(&opus(n, 120)).unwrap());
    }
    let parity = all.last().unwrap();
    assert_eq!(&parity[12..20], &[1, 97, 0, 4, 0, 0, 0, 20]);
}

#[test]
fn iv_adds_the_sequence_to_the_key_id() {
    assert_eq!(audio_iv(1, 2)[..4], [0, 0, 0, 3]);
    assert_eq!(audio_iv(-1, 1), [0; 16]);
    assert_eq!(audio_iv(0x7FFF_FFFF, 1)[..4], [0x80, 0, 0, 0]);
}

#[test]
fn encrypted_payloads_are_cbc_with_pkcs7() {
    let mut p = AudioPacketizer::new(10, Some(ENC)).unwrap();
    let out = p.packetize(&opus(0, 100)).unwrap();
    // 100 bytes pad to 112.
    assert_eq!(out[0].len(), 12 + 112);
    assert_eq!(
        decrypt_payload(&ENC, 0, &out[0][12..]).unwrap(),
        opus(0, 100)
    );
    // The IV depends on the sequence number.
    assert!(decrypt_payload(&ENC, 1, &out[0][12..]).map_or(true, |p| p != opus(0, 100)));
}

#[test]
fn unequal_payloads_skip_parity() {
    let mut p = AudioPacketizer::new(5, None).unwrap();
    let mut count = 0;
    for (n, len) in [100, 100, 101, 100].into_iter().enumerate() {
        count += p.packetize(&opus(n, len)).unwrap().len();
    }
    assert_eq!(count, 4);
    assert_eq!(p.skipped_fec_blocks(), 1);
    // The next block is aligned again.
    let out: Vec<_> = (4..8)
        .flat_map(|n| p.packetize(&opus(n, 100)).unwrap())
        .collect();
    assert_eq!(out.len(), 6);
}

#[test]
fn oversized_and_empty_packets_are_refused() {
    let mut p = AudioPacketizer::new(5, None).unwrap();
    assert_eq!(p.packetize(&[]), Err(AudioError::Empty));
    assert_eq!(p.packetize(&opus(0, 1389)), Err(AudioError::TooLarge(1401)));
    // A refused packet does not use up a sequence number.
    assert_eq!(&p.packetize(&opus(0, 10)).unwrap()[0][2..4], &[0, 0]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any two losses per block of six, plaintext or encrypted: every Opus packet comes back with its
    /// sequence number and timestamp.
    #[test]
    fn any_two_losses_per_block_are_recovered(
        blocks in 1usize..6,
        len in 1usize..400,
        losses in proptest::collection::vec((0usize..6, 0usize..6), 6),
        encrypt: bool,
    ) {
        let enc = encrypt.then_some(ENC);
        let mut p = AudioPacketizer::new(5, enc).unwrap();
        let mut sent = Vec::new();
        for (b, (a, c)) in losses.iter().copied().enumerate().take(blocks) {
            let mut block = Vec::new();
            for n in 0..4 {
                block.extend(p.packetize(&opus(b * 4 + n, len)).unwrap());
            }
            prop_assert_eq!(block.len(), 6);
            sent.extend(
                block.into_iter().enumerate().filter(|(i, _)| *i != a && *i != c).map(|(_, d)| d),
            );
        }
        let got = receive(&sent, enc.as_ref(), 5);
        prop_assert_eq!(got.len(), blocks * 4);
        for (seq, (ts, payload)) in got {
            prop_assert_eq!(ts, u32::from(seq) * 5);
            prop_assert_eq!(payload, opus(usize::from(seq), len));
        }
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(packet) = AudioPacket::parse(&bytes) {
            match packet {
                AudioPacket::Data { payload, .. } => prop_assert_eq!(payload.len(), bytes.len() - 12),
                AudioPacket::Parity { parity, .. } => prop_assert_eq!(parity.len(), bytes.len() - 24),
            }
        }
    }

    #[test]
    fn decrypt_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100), seq: u16) {
        let _ = decrypt_payload(&ENC, seq, &bytes);
    }
}
