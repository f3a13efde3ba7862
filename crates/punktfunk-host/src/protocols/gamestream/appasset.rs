//! Box art for `/appasset`: Moonlight shows a picture per app and shows a broken tile without one.
//! Until the game library brings real covers, each app gets a generated poster: a vertical gradient in
//! a colour derived from its id, so apps are told apart at a glance. The PNG is written uncompressed
//! (zlib "stored" blocks): simple to get exactly right, and 90 KB served on a LAN once per app.

/// Moonlight's tiles are portrait, about 3:4 (GameStream box art is 628×888; this is a quarter of it).
pub const WIDTH: u32 = 157;
pub const HEIGHT: u32 = 222;

/// The poster for the app with this id.
pub fn poster_png(app_id: u32) -> Vec<u8> {
    let [r, g, b] = colour(app_id);
    let mut raw = Vec::with_capacity(((WIDTH * 3 + 1) * HEIGHT) as usize);
    for y in 0..HEIGHT {
        raw.push(0); // filter: none
        // Full colour at the top, a third of it at the bottom.
        let shade = |c: u8| (u32::from(c) * (3 * HEIGHT - 2 * y) / (3 * HEIGHT)) as u8;
        for _ in 0..WIDTH {
            raw.extend_from_slice(&[shade(r), shade(g), shade(b)]);
        }
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut header = Vec::with_capacity(13);
    header.extend_from_slice(&WIDTH.to_be_bytes());
    header.extend_from_slice(&HEIGHT.to_be_bytes());
    header.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, adaptive filters, no interlace
    chunk(&mut png, b"IHDR", &header);
    chunk(&mut png, b"IDAT", &zlib_stored(&raw));
    chunk(&mut png, b"IEND", &[]);
    png
}

/// A saturated colour from the id's bits (never too dark to read as a colour).
fn colour(app_id: u32) -> [u8; 3] {
    let hue = app_id.wrapping_mul(2_654_435_761) >> 24; // Knuth's multiplicative hash, 0..=255
    let sector = hue / 43;
    let rise = ((hue % 43) * 6).min(255) as u8;
    let fall = 255 - rise;
    let low = 48;
    match sector {
        0 => [255, rise.max(low), low],
        1 => [fall.max(low), 255, low],
        2 => [low, 255, rise.max(low)],
        3 => [low, fall.max(low), 255],
        4 => [rise.max(low), low, 255],
        _ => [255, low, fall.max(low)],
    }
}

fn chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    png.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = png.len();
    png.extend_from_slice(kind);
    png.extend_from_slice(data);
    let crc = crc32(&png[start..]);
    png.extend_from_slice(&crc.to_be_bytes());
}

/// A zlib stream of uncompressed deflate blocks (RFC 1950/1951).
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    const MAX_BLOCK: usize = 65_535;
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(MAX_BLOCK).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none())); // BFINAL on the last, BTYPE 00
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    b << 16 | a
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check values every CRC-32 and Adler-32 implementation publishes for "123456789".
    #[test]
    fn checksums_match_the_published_check_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    /// Walks the file the way a decoder does: chunk lengths, CRCs, and the stored blocks back into
    /// exactly the scanlines. (The end-to-end test also decodes a served poster with Pillow.)
    #[test]
    fn poster_is_a_well_formed_png() {
        let png = poster_png(7);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let mut at = 8;
        let mut kinds = Vec::new();
        let mut idat = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let body = &png[at + 4..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            assert_eq!(crc32(body), crc);
            kinds.push(body[..4].to_vec());
            if &body[..4] == b"IDAT" {
                idat.extend_from_slice(&body[4..]);
            }
            at += 12 + len;
        }
        assert_eq!(
            kinds,
            [b"IHDR".to_vec(), b"IDAT".to_vec(), b"IEND".to_vec()]
        );
        let mut pos = 2;
        let mut raw = Vec::new();
        loop {
            let last = idat[pos] & 1;
            let len = u16::from_le_bytes([idat[pos + 1], idat[pos + 2]]);
            let nlen = u16::from_le_bytes([idat[pos + 3], idat[pos + 4]]);
            assert_eq!(len, !nlen);
            raw.extend_from_slice(&idat[pos + 5..pos + 5 + usize::from(len)]);
            pos += 5 + usize::from(len);
            if last == 1 {
                break;
            }
        }
        assert_eq!(raw.len(), ((WIDTH * 3 + 1) * HEIGHT) as usize);
        assert_eq!(
            u32::from_be_bytes(idat[pos..pos + 4].try_into().unwrap()),
            adler32(&raw)
        );
        assert_ne!(colour(1), colour(2), "neighbouring ids look different");
    }
}
