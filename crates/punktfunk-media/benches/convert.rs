//! Colour conversion from captured BGRx to each encoder input layout at 1080p, one and two threads.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use punktfunk_media::convert::{Converter, YuvLayout};
use punktfunk_media::{ColorSpace, PixelFormat, RawFrame};

fn convert(c: &mut Criterion) {
    punktfunk_media::init().expect("FFmpeg");
    let (w, h) = (1920u32, 1080u32);
    let data: Vec<u8> = (0..w as usize * h as usize * 4)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let frame = RawFrame {
        format: PixelFormat::Bgrx,
        width: w,
        height: h,
        stride: w as usize * 4,
        data: &data,
        pts_us: 0,
    };
    let mut group = c.benchmark_group("convert_1080p");
    group.throughput(Throughput::Elements(1));
    for layout in [
        YuvLayout::Yuv420p,
        YuvLayout::Nv12,
        YuvLayout::Yuv420p10,
        YuvLayout::P010,
        YuvLayout::Yuv444p,
    ] {
        for threads in [1, 2] {
            let mut conv = Converter::new(
                PixelFormat::Bgrx,
                layout,
                w,
                h,
                ColorSpace::Bt709,
                false,
                threads,
            )
            .expect("converter");
            let mut out = conv.new_output();
            group.bench_function(format!("{layout:?}/threads{threads}"), |b| {
                b.iter(|| conv.convert(&frame, &mut out).expect("convert"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, convert);
criterion_main!(benches);
