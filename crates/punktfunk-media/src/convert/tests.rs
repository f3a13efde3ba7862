//! Unit tests of the colour conversion (`super`): converted pictures against expected colours, chroma subsampling, bad frames refused, format switches reusing the output.

use super::*;

fn solid(format: PixelFormat, w: u32, h: u32, stride: usize, rgb: [u8; 3]) -> Vec<u8> {
    let mut data = vec![0xAA; stride * h as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let p = &mut data[y * stride + x * 4..y * stride + x * 4 + 4];
            match format {
                PixelFormat::Bgrx => p.copy_from_slice(&[rgb[2], rgb[1], rgb[0], 0]),
                PixelFormat::Rgbx => p.copy_from_slice(&[rgb[0], rgb[1], rgb[2], 0]),
            }
        }
    }
    data
}

fn convert_one(
    format: PixelFormat,
    layout: YuvLayout,
    color: ColorSpace,
    full: bool,
    rgb: [u8; 3],
) -> frame::Video {
    let (w, h) = (64, 48);
    let stride = w as usize * 4 + 96; // padded rows
    let data = solid(format, w, h, stride, rgb);
    let mut conv = Converter::new(format, layout, w, h, color, full, 2).expect("converter");
    let frame = RawFrame {
        format,
        width: w,
        height: h,
        stride,
        data: &data,
        pts_us: 0,
    };
    conv.convert_new(&frame).expect("convert")
}

#[test]
fn bt709_limited_red_and_white() {
    // BT.709 limited: Y(red) = 16 + 219 × 0.2126 ≈ 62.6; BT.601 would give 81.
    let out = convert_one(
        PixelFormat::Bgrx,
        YuvLayout::Yuv420p,
        ColorSpace::Bt709,
        false,
        [255, 0, 0],
    );
    let y = out.data(0)[out.stride(0) * 10 + 10];
    assert!((61..=64).contains(&y), "Y of red = {y}");
    let v = out.data(2)[out.stride(2) * 5 + 5];
    assert!(v >= 238, "Cr of red = {v}");
    let out = convert_one(
        PixelFormat::Rgbx,
        YuvLayout::Nv12,
        ColorSpace::Bt709,
        false,
        [255, 255, 255],
    );
    assert_eq!(out.data(0)[0], 235);
    let uv = out.data(1);
    assert!(
        (127..=129).contains(&uv[0]) && (127..=129).contains(&uv[1]),
        "UV of white = {:?}",
        &uv[..2]
    );
}

/// Chroma of a left-half-red / right-half-blue picture: each output sample averages its own pixel pair
/// (no bleeding across the edge, which falls on an even column), and a 2×2 block is averaged.
#[test]
fn chroma_is_subsampled_in_place() {
    let (w, h) = (64u32, 16u32);
    let stride = w as usize * 4;
    let mut data = vec![0u8; stride * h as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let px = if x < 32 {
                [0, 0, 255, 0]
            } else {
                [255, 0, 0, 0]
            }; // BGRx red | blue
            data[y * stride + x * 4..y * stride + x * 4 + 4].copy_from_slice(&px);
        }
    }
    let mut conv = Converter::new(
        PixelFormat::Bgrx,
        YuvLayout::Yuv420p,
        w,
        h,
        ColorSpace::Bt709,
        false,
        2,
    )
    .expect("converter");
    let frame = RawFrame {
        format: PixelFormat::Bgrx,
        width: w,
        height: h,
        stride,
        data: &data,
        pts_us: 0,
    };
    let out = conv.convert_new(&frame).expect("convert");
    let (cb, cr) = (out.data(1), out.data(2));
    let row = out.stride(1) * 4;
    // Red: Cb ≈ 102, Cr = 240; blue: Cb = 240, Cr ≈ 118 (BT.709 limited). Samples 2 away from the edge.
    assert!(
        (cb[row + 13] as i32 - 102).abs() <= 3 && cr[row + 13] >= 236,
        "red {} {}",
        cb[row + 13],
        cr[row + 13]
    );
    assert!(
        cb[row + 18] >= 236 && (cr[row + 18] as i32 - 118).abs() <= 3,
        "blue {} {}",
        cb[row + 18],
        cr[row + 18]
    );
}

#[test]
fn full_range_white_is_255() {
    let out = convert_one(
        PixelFormat::Bgrx,
        YuvLayout::Yuv444p,
        ColorSpace::Bt709,
        true,
        [255, 255, 255],
    );
    assert_eq!(out.data(0)[out.stride(0) * 47 + 63], 255);
}

#[test]
fn bt2020_ten_bit_layouts() {
    // BT.2020 limited, 10-bit: Y(green) = 64 + 876 × 0.6780 ≈ 658.
    for layout in [YuvLayout::P010, YuvLayout::Yuv420p10] {
        let out = convert_one(
            PixelFormat::Rgbx,
            layout,
            ColorSpace::Bt2020Pq,
            false,
            [0, 255, 0],
        );
        let plane = out.data(0);
        let word = u16::from_le_bytes([plane[0], plane[1]]);
        let y = if layout == YuvLayout::P010 {
            word >> 6
        } else {
            word
        };
        assert!((650..=666).contains(&y), "{layout:?}: Y(green) = {y}");
    }
}

#[test]
fn rejects_bad_frames() {
    let mut conv = Converter::new(
        PixelFormat::Bgrx,
        YuvLayout::Nv12,
        64,
        32,
        ColorSpace::Bt709,
        false,
        1,
    )
    .expect("converter");
    let data = vec![0u8; 64 * 4 * 32 - 1];
    let short = RawFrame {
        format: PixelFormat::Bgrx,
        width: 64,
        height: 32,
        stride: 256,
        data: &data,
        pts_us: 0,
    };
    assert!(matches!(
        conv.convert_new(&short),
        Err(MediaError::BufferTooSmall { .. })
    ));
    let narrow = RawFrame {
        stride: 200,
        ..short
    };
    assert!(matches!(
        conv.convert_new(&narrow),
        Err(MediaError::BufferTooSmall { .. })
    ));
    let big = vec![0u8; 64 * 4 * 40];
    let wrong = RawFrame {
        height: 40,
        data: &big,
        ..short
    };
    assert!(matches!(
        conv.convert_new(&wrong),
        Err(MediaError::FrameSize { .. })
    ));
}

#[test]
fn switches_source_format_and_reuses_output() {
    let (w, h) = (32, 16);
    let mut conv = Converter::new(
        PixelFormat::Bgrx,
        YuvLayout::Yuv420p,
        w,
        h,
        ColorSpace::Bt709,
        true,
        2,
    )
    .expect("converter");
    let mut out = conv.new_output();
    let blue_bgrx = solid(PixelFormat::Bgrx, w, h, 128, [0, 0, 255]);
    let blue_rgbx = solid(PixelFormat::Rgbx, w, h, 128, [0, 0, 255]);
    let a = RawFrame {
        format: PixelFormat::Bgrx,
        width: w,
        height: h,
        stride: 128,
        data: &blue_bgrx,
        pts_us: 0,
    };
    conv.convert(&a, &mut out).expect("bgrx");
    let y_a = out.data(0)[0];
    let b = RawFrame {
        format: PixelFormat::Rgbx,
        data: &blue_rgbx,
        ..a
    };
    conv.convert(&b, &mut out).expect("rgbx");
    assert_eq!(out.data(0)[0], y_a);
    // Full-range BT.709 blue: Y = 255 × 0.0722 ≈ 18.
    assert!((17..=20).contains(&y_a), "Y of blue = {y_a}");
}
