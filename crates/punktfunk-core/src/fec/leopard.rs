//! Leopard Reed–Solomon over GF(2¹⁶) through `reed-solomon-simd`, with encoder and decoder working
//! space kept between blocks.

use super::{FecError, FecScheme, ReceivedBlock};
use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};

#[derive(Default)]
pub(super) struct Leopard {
    encoder: Option<ReedSolomonEncoder>,
    decoder: Option<ReedSolomonDecoder>,
}

fn backend(e: reed_solomon_simd::Error, k: usize, m: usize, s: usize) -> FecError {
    use reed_solomon_simd::Error as E;
    match e {
        E::UnsupportedShardCount { .. } | E::InvalidShardSize { .. } => FecError::Unsupported {
            scheme: FecScheme::Gf16Leopard,
            data: k,
            recovery: m,
            shard_bytes: s,
        },
        other => FecError::Backend(other.to_string()),
    }
}

impl Leopard {
    pub(super) fn encode(
        &mut self,
        data: &[&[u8]],
        recovery: &mut [&mut [u8]],
        s: usize,
    ) -> Result<(), FecError> {
        let (k, m) = (data.len(), recovery.len());
        let err = |e| backend(e, k, m, s);
        let encoder = match &mut self.encoder {
            Some(enc) => {
                enc.reset(k, m, s).map_err(err)?;
                enc
            }
            slot => slot.insert(ReedSolomonEncoder::new(k, m, s).map_err(err)?),
        };
        for shard in data {
            encoder.add_original_shard(shard).map_err(err)?;
        }
        let result = encoder.encode().map_err(err)?;
        for (out, shard) in recovery.iter_mut().zip(result.recovery_iter()) {
            out.copy_from_slice(shard);
        }
        Ok(())
    }

    pub(super) fn reconstruct(
        &mut self,
        block: ReceivedBlock<'_>,
        k: usize,
        m: usize,
    ) -> Result<(), FecError> {
        let s = block.shard_bytes;
        let err = |e| backend(e, k, m, s);
        let decoder = match &mut self.decoder {
            Some(dec) => {
                dec.reset(k, m, s).map_err(err)?;
                dec
            }
            slot => slot.insert(ReedSolomonDecoder::new(k, m, s).map_err(err)?),
        };
        for i in (0..k).filter(|&i| block.data_present[i]) {
            decoder
                .add_original_shard(i, block.data_shard(i))
                .map_err(err)?;
        }
        for j in (0..m).filter(|&j| block.recovery_present[j]) {
            decoder
                .add_recovery_shard(j, block.recovery_shard(j))
                .map_err(err)?;
        }
        let result = decoder.decode().map_err(err)?;
        for (i, shard) in result.restored_original_iter() {
            block.data[i * s..(i + 1) * s].copy_from_slice(shard);
        }
        Ok(())
    }
}
