#!/usr/bin/env python3
"""Independent GameStream FEC test vectors for crates/punktfunk-core/tests/gamestream_fec_vectors.rs.

Written from the maths in reference/gamestream.md (sections 4.2-4.4 and 5), not from the Rust code:

* GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D), built here from exp/log tables.
* Video parity (Moonlight's Cauchy matrix): recovery shard j of a block with m parity shards is
  sum_i inv((m + i) XOR j) * data[i].
* Audio parity (fixed RS(4,2)): rows 77 40 38 0e and c7 a7 0d 6c.
* Whole-frame vectors: the frame header, datagram layout and block/parity rules of section 4,
  with FEC over the shards while the RTP header and fecInfo are still zero.

Data bytes come from SHA-256 in counter mode so that nothing depends on a language's random
generator. Usage: scripts/gen-gamestream-fec-vectors.py > /tmp/vectors.rs, then paste the output
between the GENERATED markers of the Rust test and run `cargo fmt`.
"""

import hashlib
import math
import sys

POLY = 0x11D
EXP = [0] * 512
LOG = [0] * 256
x = 1
for power in range(255):
    EXP[power] = x
    LOG[x] = power
    x <<= 1
    if x & 0x100:
        x ^= POLY
for power in range(255, 512):
    EXP[power] = EXP[power - 255]


def gf_mul(a, b):
    if a == 0 or b == 0:
        return 0
    return EXP[LOG[a] + LOG[b]]


def gf_inv(a):
    if a == 0:
        raise ZeroDivisionError("0 has no inverse")
    return EXP[255 - LOG[a]]


def cauchy(m, j, i):
    return gf_inv((m + i) ^ j)


def parity(data, rows):
    """rows[j][i] weights data shard i in parity shard j."""
    size = len(data[0])
    out = []
    for row in rows:
        shard = bytearray(size)
        for coefficient, d in zip(row, data):
            for b in range(size):
                shard[b] ^= gf_mul(coefficient, d[b])
        out.append(bytes(shard))
    return out


def video_rows(k, m):
    return [[cauchy(m, j, i) for i in range(k)] for j in range(m)]


AUDIO_ROWS = [[0x77, 0x40, 0x38, 0x0E], [0xC7, 0xA7, 0x0D, 0x6C]]


def pseudo_bytes(label, n):
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:n])


def shards(label, k, size):
    return [pseudo_bytes(f"{label}/{i}", size) for i in range(k)]


# --- whole frames (section 4) ---------------------------------------------------------------

def le16(v):
    return v.to_bytes(2, "little")


def le32(v):
    return (v & 0xFFFFFFFF).to_bytes(4, "little")


def be16(v):
    return (v & 0xFFFF).to_bytes(2, "big")


def be32(v):
    return (v & 0xFFFFFFFF).to_bytes(4, "big")


def packetize(frame, packet_size, fec_percent, min_parity, frame_type, latency, timestamp,
              frame_index=1, first_packet=0):
    payload_per_shard = packet_size - 16
    last = (len(frame) + 8) % payload_per_shard or payload_per_shard
    stream = bytes([1]) + le16(latency) + bytes([frame_type]) + le16(last) + b"\0\0" + frame
    total = math.ceil(len(stream) / payload_per_shard)

    percent = fec_percent
    max_data = 25500 // (100 + percent)
    blocks = math.ceil(total / max_data)
    if blocks > 4:
        percent, blocks = 0, 4
    per_block = math.ceil(total / blocks)
    sizes = []
    remaining = total
    while remaining:
        sizes.append(min(per_block, remaining))
        remaining -= sizes[-1]

    datagrams = []
    packet = first_packet
    first_shard = 0
    for block_index, d in enumerate(sizes):
        block_bits = (block_index << 4) | ((len(sizes) - 1) << 6)
        if percent == 0:
            p, field = 0, 0
        else:
            p, field = math.ceil(d * percent / 100), percent
            if p < min_parity:
                p = min_parity
                field = 100 * p // d
        assert math.ceil(d * field / 100) == p
        data = []
        for x in range(d):
            flags = 0x01 | (0x04 if x == 0 else 0) | (0x02 if x == d - 1 else 0)
            start = (first_shard + x) * payload_per_shard
            body = stream[start:start + payload_per_shard]
            body += bytes(payload_per_shard - len(body))
            header = bytes(16) + le32((packet + x) << 8) + le32(frame_index) + \
                bytes([flags, 0, 0x10, block_bits]) + bytes(4)
            data.append(header + body)
        all_shards = data + (parity(data, video_rows(d, p)) if p else [])
        for x, shard in enumerate(all_shards):
            fec_info = (d << 22) | (x << 12) | (field << 4)
            rtp = bytes([0x90, 0]) + be16(packet + x) + be32(timestamp) + bytes(8)
            datagrams.append(rtp + shard[16:20] + le32(frame_index) + shard[24:27] +
                             bytes([block_bits]) + le32(fec_info) + shard[32:])
        packet += len(all_shards)
        first_shard += d
    return datagrams


def digest(datagrams):
    h = hashlib.sha256()
    for d in datagrams:
        h.update(len(d).to_bytes(4, "little"))
        h.update(d)
    return h.hexdigest()


def hexs(b):
    return b.hex()


def main():
    w = sys.stdout.write
    w("// GENERATED by scripts/gen-gamestream-fec-vectors.py: do not edit by hand.\n\n")

    w("/// (data shards, parity shards, shard bytes, data hex per shard, parity hex per shard)\n")
    w("type ParityVector = (\n    usize,\n    usize,\n    usize,\n"
      "    &'static [&'static str],\n    &'static [&'static str],\n);\n\n")
    w("const VIDEO_PARITY: &[ParityVector] = &[\n")
    for k, m, size in [(1, 2, 8), (4, 2, 16), (10, 3, 12), (212, 43, 4)]:
        data = shards(f"video-{k}-{m}", k, size)
        par = parity(data, video_rows(k, m))
        w(f"    (\n        {k},\n        {m},\n        {size},\n        &[\n")
        for d in data:
            w(f'            "{hexs(d)}",\n')
        w("        ],\n        &[\n")
        for p in par:
            w(f'            "{hexs(p)}",\n')
        w("        ],\n    ),\n")
    w("];\n\n")

    w("/// (shard bytes, 4 data shards hex, 2 parity shards hex)\n")
    w("const AUDIO_PARITY: &[(usize, [&str; 4], [&str; 2])] = &[\n")
    for size in [16, 112]:
        data = shards(f"audio-{size}", 4, size)
        par = parity(data, AUDIO_ROWS)
        w(f"    (\n        {size},\n        [\n")
        for d in data:
            w(f'            "{hexs(d)}",\n')
        w("        ],\n        [\n")
        for p in par:
            w(f'            "{hexs(p)}",\n')
        w("        ],\n    ),\n")
    w("];\n\n")

    small = pseudo_bytes("frame-small", 200)
    small_datagrams = packetize(small, 64, 20, 2, 2, 7, 0x01020304)
    w("/// 200-byte IDR frame, P = 64, 20 % FEC, minimum 2 parity, latency 7, timestamp 0x01020304.\n")
    w("const SMALL_FRAME: &str = \"" + hexs(small) + "\";\n")
    w("const SMALL_FRAME_DATAGRAMS: &[&str] = &[\n")
    for d in small_datagrams:
        w(f'    "{hexs(d)}",\n')
    w("];\n\n")

    big = pseudo_bytes("frame-big", 16 * 300)
    big_datagrams = packetize(big, 32, 20, 2, 1, 0, 90000)
    w("/// 4800-byte P-frame, P = 32 (301 shards: two blocks), 20 % FEC: datagram count and the\n")
    w("/// SHA-256 of every datagram as LE32 length + bytes.\n")
    w(f"const BIG_FRAME_DATAGRAMS: usize = {len(big_datagrams)};\n")
    w(f'const BIG_FRAME_DIGEST: &str = "{digest(big_datagrams)}";\n')
    w("// END GENERATED\n")


if __name__ == "__main__":
    main()
