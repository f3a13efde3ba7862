//! The packetizer against a depacketizer written the way moonlight-common-c's RtpVideoQueue and
//! VideoDepacketizer read datagrams: blocks are found through `fecInfo` and the block bits, lost data
//! shards are rebuilt with the Cauchy code, and recovered headers are checked the way the client does.

use super::*;
use crate::fec::{FecDecoder, FecScheme, ReceivedBlock};
use crate::gamestream::fec::client_parity_count;
use proptest::prelude::*;
use std::collections::BTreeMap;

const KEY: [u8; 16] = *b"0123456789abcdef";

fn config(packet_size: usize, fec_percent: u8, key: Option<[u8; 16]>) -> VideoConfig {
    VideoConfig {
        packet_size,
        fec_percent,
        min_required_fec_packets: 2,
        encryption_key: key,
    }
}

fn frame(data: &[u8], frame_type: FrameType) -> VideoFrame<'_> {
    VideoFrame {
        data,
        frame_type,
        rtp_timestamp: 90_000,
        host_latency: 42,
    }
}

fn bitstream(len: usize, seed: u64) -> Vec<u8> {
    crate::testsrc::pattern_bytes(seed, len)
}

/// A frame as the client hands it to the decoder.
#[derive(Debug, PartialEq, Eq)]
struct Received {
    frame_type: u8,
    host_latency: u16,
    data: Vec<u8>,
}

#[derive(Default)]
struct Block {
    data_shards: usize,
    parity_shards: usize,
    last_block: u8,
    shards: BTreeMap<usize, Vec<u8>>,
}

/// Reassembles whatever frames the given datagrams (any order, any subset) fully determine.
fn depacketize(
    datagrams: &[Vec<u8>],
    packet_size: usize,
    key: Option<[u8; 16]>,
) -> BTreeMap<u32, Received> {
    let opener = key.map(|k| VideoOpener::new(&k).unwrap());
    let shard_len = packet_size + RTP_HEADER_LEN;
    let mut blocks: BTreeMap<(u32, u8), Block> = BTreeMap::new();
    for datagram in datagrams {
        let shard = match &opener {
            Some(o) => o.open(datagram).unwrap(),
            None => datagram.clone(),
        };
        assert_eq!(shard.len(), shard_len);
        let h = VideoPacketHeader::parse(&shard).unwrap();
        assert_eq!(shard[0], RTP_VERSION_EXTENSION);
        let block = blocks.entry((h.frame_index, h.block_index)).or_default();
        block.data_shards = usize::from(h.fec.data_shards);
        block.parity_shards = h.fec.parity_shards();
        block.last_block = h.last_block_index;
        block.shards.insert(usize::from(h.fec.shard_index), shard);
    }

    let mut frames = BTreeMap::new();
    let mut decoder = FecDecoder::new();
    let frame_indices: Vec<u32> = blocks.keys().map(|k| k.0).collect();
    'frames: for frame_index in frame_indices {
        if frames.contains_key(&frame_index) {
            continue;
        }
        let Some(last) = blocks.get(&(frame_index, 0)).map(|b| b.last_block) else {
            continue;
        };
        let mut payload = Vec::new();
        for block_index in 0..=last {
            let Some(block) = blocks.get(&(frame_index, block_index)) else {
                continue 'frames;
            };
            let Some(data) = recover_block(&mut decoder, block, shard_len) else {
                continue 'frames;
            };
            for (x, shard) in data.chunks_exact(shard_len).enumerate() {
                let h = VideoPacketHeader::parse(shard).unwrap();
                // The checks moonlight-common-c applies to recovered and received shards alike.
                assert_eq!(h.frame_index, frame_index);
                assert_eq!((h.block_index, h.last_block_index), (block_index, last));
                assert_eq!(h.flags & FLAG_SOF != 0, x == 0);
                assert_eq!(h.flags & FLAG_EOF != 0, x + 1 == block.data_shards);
                assert_ne!(h.flags & FLAG_CONTAINS_PIC_DATA, 0);
                assert_eq!(h.multi_fec_flags, MULTI_FEC_FLAGS);
                if x > 0 {
                    let prev = VideoPacketHeader::parse(&data[(x - 1) * shard_len..]).unwrap();
                    assert_eq!(
                        (h.stream_packet_index >> 8) & 0xFF_FFFF,
                        ((prev.stream_packet_index >> 8) + 1) & 0xFF_FFFF
                    );
                }
                payload.extend_from_slice(&shard[PACKET_HEADER_LEN..]);
            }
        }
        let per_shard = packet_size - VIDEO_HEADER_LEN;
        let last_len = usize::from(u16::from_le_bytes([payload[4], payload[5]]));
        assert!(last_len > 0 && last_len <= per_shard);
        let total = payload.len() - per_shard + last_len;
        assert_eq!(payload[0], 0x01);
        frames.insert(
            frame_index,
            Received {
                frame_type: payload[3],
                host_latency: u16::from_le_bytes([payload[1], payload[2]]),
                data: payload[FRAME_HEADER_LEN..total].to_vec(),
            },
        );
    }
    frames
}

/// The block's data shards, contiguous, with lost ones rebuilt; `None` if too much is missing.
fn recover_block(decoder: &mut FecDecoder, block: &Block, shard_len: usize) -> Option<Vec<u8>> {
    let (k, m) = (block.data_shards, block.parity_shards);
    let mut data = vec![0u8; k * shard_len];
    let mut data_present = vec![false; k];
    let mut recovery = vec![0u8; m * shard_len];
    let mut recovery_present = vec![false; m];
    for (&index, shard) in &block.shards {
        if index < k {
            data[index * shard_len..(index + 1) * shard_len].copy_from_slice(shard);
            data_present[index] = true;
        } else {
            recovery[(index - k) * shard_len..(index - k + 1) * shard_len].copy_from_slice(shard);
            recovery_present[index - k] = true;
        }
    }
    let missing: Vec<usize> = (0..k).filter(|&i| !data_present[i]).collect();
    if !missing.is_empty() {
        decoder
            .reconstruct(
                FecScheme::Gf8Cauchy,
                ReceivedBlock {
                    shard_bytes: shard_len,
                    data: &mut data,
                    data_present: &data_present,
                    recovery: &recovery,
                    recovery_present: &recovery_present,
                },
            )
            .ok()?;
        // Header bytes written after the FEC (RTP header, frame index, block bits, fecInfo) come
        // out of the recovery as garbage; like moonlight-common-c, take the frame index and block
        // bits from a received shard and leave the rest (the parsing below does not read them).
        let (_, template) = block.shards.iter().next()?;
        for &i in &missing {
            let shard = &mut data[i * shard_len..(i + 1) * shard_len];
            shard[20..24].copy_from_slice(&template[20..24]);
            shard[27] = template[27];
        }
    }
    Some(data)
}

#[test]
fn small_frame_is_one_block_with_minimum_parity() {
    let data = bitstream(1000, 1);
    let mut p = VideoPacketizer::new(&config(1024, 20, None)).unwrap();
    let datagrams = p.packetize(&frame(&data, FrameType::Idr)).unwrap();
    // 1008 bytes of stream in 1008-byte shards: 1 data shard, raised to 2 parity shards.
    assert_eq!(datagrams.len(), 3);
    assert!(datagrams.iter().all(|d| d.len() == 1024 + 16));
    let h = VideoPacketHeader::parse(&datagrams[0]).unwrap();
    assert_eq!(h.frame_index, 1);
    assert_eq!(h.sequence, 0);
    assert_eq!(h.timestamp, 90_000);
    assert_eq!(h.flags, FLAG_CONTAINS_PIC_DATA | FLAG_SOF | FLAG_EOF);
    assert_eq!(h.fec.data_shards, 1);
    assert_eq!(h.fec.fec_percent, 200);
    assert_eq!(h.fec.parity_shards(), 2);
    // Frame header: latency 42, IDR, last payload (1000 + 8) mod 1008 = 0 → 1008.
    assert_eq!(&datagrams[0][32..40], &[1, 42, 0, 2, 0xF0, 0x03, 0, 0]);

    // Only the second parity shard arrives: the frame still comes back.
    let frames = depacketize(&datagrams[2..], 1024, None);
    assert_eq!(frames[&1].data, data);
    assert_eq!(frames[&1].frame_type, 2);
    assert_eq!(frames[&1].host_latency, 42);
}

#[test]
fn counters_run_across_frames() {
    let mut p = VideoPacketizer::new(&config(256, 20, None)).unwrap();
    let mut expected_seq = 0u16;
    for (n, len) in [100usize, 5000, 20].into_iter().enumerate() {
        let data = bitstream(len, n as u64);
        let datagrams = p.packetize(&frame(&data, FrameType::P)).unwrap();
        for d in &datagrams {
            let h = VideoPacketHeader::parse(d).unwrap();
            assert_eq!(h.sequence, expected_seq);
            assert_eq!(h.frame_index, n as u32 + 1);
            if h.fec.shard_index < h.fec.data_shards {
                assert_eq!(h.stream_packet_index, u32::from(expected_seq) << 8);
            }
            expected_seq = expected_seq.wrapping_add(1);
        }
        assert_eq!(
            depacketize(&datagrams, 256, None)[&(n as u32 + 1)].data,
            data
        );
    }
    assert_eq!(p.next_frame_index(), 4);
}

#[test]
fn large_frames_use_several_blocks() {
    // 240 payload bytes per shard: 100 000 bytes are 417 shards, 2 blocks at 20 %.
    let data = bitstream(100_000, 7);
    let mut p = VideoPacketizer::new(&config(256, 20, None)).unwrap();
    let datagrams = p.packetize(&frame(&data, FrameType::P)).unwrap();
    let headers: Vec<VideoPacketHeader> = datagrams
        .iter()
        .map(|d| VideoPacketHeader::parse(d).unwrap())
        .collect();
    assert!(headers.iter().all(|h| h.last_block_index == 1));
    let block0 = headers.iter().filter(|h| h.block_index == 0).count();
    assert_eq!(block0, 209 + client_parity_count(209, 20));
    assert_eq!(headers.len() - block0, 208 + client_parity_count(208, 20));
    // Drop as many shards of each block as it has parity, data first.
    let mut lost = vec![false; datagrams.len()];
    for (i, h) in headers.iter().enumerate() {
        lost[i] = usize::from(h.fec.shard_index) < h.fec.parity_shards();
    }
    let kept: Vec<Vec<u8>> = datagrams
        .iter()
        .zip(&lost)
        .filter(|(_, l)| !**l)
        .map(|(d, _)| d.clone())
        .collect();
    assert_eq!(depacketize(&kept, 256, None)[&1].data, data);
}

#[test]
fn one_loss_too_many_loses_the_frame() {
    let data = bitstream(3000, 3);
    let mut p = VideoPacketizer::new(&config(512, 20, None)).unwrap();
    let datagrams = p.packetize(&frame(&data, FrameType::P)).unwrap();
    // 7 data + 2 parity; losing 3 data shards is beyond repair.
    assert_eq!(datagrams.len(), 9);
    assert!(depacketize(&datagrams[3..], 512, None).is_empty());
    assert_eq!(depacketize(&datagrams[2..], 512, None)[&1].data, data);
}

#[test]
fn encrypted_shards_round_trip_and_reject_tampering() {
    let data = bitstream(4000, 9);
    let mut p = VideoPacketizer::new(&config(1008, 20, Some(KEY))).unwrap();
    let datagrams = p.packetize(&frame(&data, FrameType::Idr)).unwrap();
    assert!(datagrams.iter().all(|d| d.len() == p.datagram_len()));
    assert_eq!(p.datagram_len(), 1008 + 16 + 32);
    // IV: LE64 counter, zeros, 'V'; then the frame index.
    assert_eq!(
        &datagrams[1][..12],
        &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, b'V']
    );
    assert_eq!(&datagrams[1][12..16], &1u32.to_le_bytes());
    assert_eq!(depacketize(&datagrams[1..], 1008, Some(KEY))[&1].data, data);

    let opener = VideoOpener::new(&KEY).unwrap();
    let mut tampered = datagrams[0].clone();
    tampered[40] ^= 1;
    assert_eq!(opener.open(&tampered), Err(VideoError::BadTag));
    assert!(
        VideoOpener::new(&[7; 16])
            .unwrap()
            .open(&datagrams[0])
            .is_err()
    );
}

#[test]
fn fec_off_sends_data_only() {
    let data = bitstream(2000, 4);
    let mut p = VideoPacketizer::new(&config(512, 0, None)).unwrap();
    let datagrams = p.packetize(&frame(&data, FrameType::P)).unwrap();
    assert_eq!(datagrams.len(), 5);
    assert!(datagrams.iter().all(|d| {
        d[28..32]
            == FecInfo {
                data_shards: 5,
                shard_index: VideoPacketHeader::parse(d).unwrap().fec.shard_index,
                fec_percent: 0,
            }
            .encode()
            .to_le_bytes()
    }));
    assert_eq!(depacketize(&datagrams, 512, None)[&1].data, data);
}

#[test]
fn bad_configuration_is_refused() {
    assert!(matches!(
        VideoPacketizer::new(&config(8, 20, None)),
        Err(VideoError::PacketSize(8))
    ));
    assert!(VideoPacketizer::new(&config(70_000, 20, None)).is_err());
}

#[test]
fn latency_is_rounded_and_saturated() {
    assert_eq!(latency_units(Duration::from_micros(4_249)), 42);
    assert_eq!(latency_units(Duration::from_micros(4_250)), 43);
    assert_eq!(latency_units(Duration::from_secs(60)), u16::MAX);
}

#[test]
fn pings_are_recognised() {
    let mut datagram = b"0123456789ABCDEF".to_vec();
    datagram.extend_from_slice(&[0, 0, 0, 3]);
    let ping = Ping::parse(&datagram).unwrap();
    assert_eq!(
        ping,
        Ping::Session {
            payload: *b"0123456789ABCDEF",
            sequence: 3
        }
    );
    assert!(ping.matches(b"0123456789ABCDEF"));
    assert!(!ping.matches(b"0123456789ABCDEX"));
    assert_eq!(ping.encode(), datagram);
    assert_eq!(Ping::parse(b"PING"), Some(Ping::Legacy));
    assert!(!Ping::Legacy.matches(b"0123456789ABCDEF"));
    assert_eq!(Ping::parse(&datagram[..19]), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn ping_parse_never_panics_and_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..24)) {
        if let Some(ping) = Ping::parse(&bytes) {
            prop_assert_eq!(ping.encode(), bytes);
        }
    }

    /// Any frame, packet size and FEC setting: losing up to the parity count of every block (any
    /// shards) still gives back the exact bitstream, in plaintext and encrypted.
    #[test]
    fn frames_survive_losses_within_parity(
        len in 0usize..60_000,
        packet_size in 64usize..1500,
        percent in 0u8..80,
        seed: u64,
        encrypt: bool,
    ) {
        let key = encrypt.then_some(KEY);
        let data = bitstream(len, seed);
        let mut p = VideoPacketizer::new(&config(packet_size, percent, key)).unwrap();
        let datagrams = p.packetize(&frame(&data, FrameType::P)).unwrap();
        prop_assert!(datagrams.iter().all(|d| d.len() == p.datagram_len()));
        let opener = VideoOpener::new(&KEY).unwrap();
        let mut budget: BTreeMap<u8, usize> = BTreeMap::new();
        let kept: Vec<Vec<u8>> = datagrams
            .iter()
            .enumerate()
            .filter(|(i, d)| {
                let shard = if encrypt { opener.open(d).unwrap() } else { (*d).clone() };
                let h = VideoPacketHeader::parse(&shard).unwrap();
                let left = budget.entry(h.block_index).or_insert(h.fec.parity_shards());
                let drop = *left > 0 && (seed >> (i % 64)) & 1 == 1;
                if drop {
                    *left -= 1;
                }
                !drop
            })
            .map(|(_, d)| d.clone())
            .collect();
        let frames = depacketize(&kept, packet_size, key);
        prop_assert_eq!(&frames[&1].data, &data);
    }

    #[test]
    fn header_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        match VideoPacketHeader::parse(&bytes) {
            Ok(h) => {
                prop_assert!(bytes.len() >= PACKET_HEADER_LEN);
                prop_assert!(h.block_index < 4 && h.last_block_index < 4);
            }
            Err(e) => prop_assert_eq!(e, VideoError::TooShort(bytes.len())),
        }
    }

    #[test]
    fn opener_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(VideoOpener::new(&KEY).unwrap().open(&bytes).is_err());
    }
}

proptest! {
    /// One batch reused across frames of any sizes (large, then small): every datagram is exactly
    /// what a fresh packetizer in the same state writes, so nothing of an earlier frame leaks.
    #[test]
    fn a_reused_batch_matches_fresh_packetizing(
        sizes in proptest::collection::vec(1usize..20_000, 1..6),
        encrypt in any::<bool>(),
    ) {
        let key = encrypt.then_some(KEY);
        let mut reused = VideoPacketizer::new(&config(512, 20, key)).unwrap();
        let mut fresh = VideoPacketizer::new(&config(512, 20, key)).unwrap();
        let mut batch = DatagramBatch::new();
        for (n, &len) in sizes.iter().enumerate() {
            let data = bitstream(len, n as u64);
            reused.packetize_into(&frame(&data, FrameType::P), &mut batch).unwrap();
            let expected = fresh.packetize(&frame(&data, FrameType::P)).unwrap();
            let got: Vec<Vec<u8>> = batch.iter().map(<[u8]>::to_vec).collect();
            prop_assert_eq!(&got, &expected);
            let frames = depacketize(&got, 512, key);
            prop_assert_eq!(&frames[&(n as u32 + 1)].data, &data);
        }
    }
}
