//! The VAAPI upload path: a VAAPI device on a DRM render node, a pool of NV12/P010 surfaces, and an
//! upload of each converted picture into a surface before it goes to `h264_vaapi` / `hevc_vaapi`.
//!
//! Untested on hardware here (this machine has no GPU); it compiles, and fails cleanly at device creation
//! when there is no render node or driver.
// Needs `unsafe` for FFmpeg/VAAPI FFI; every block says why it is sound (`// SAFETY:`).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::path::Path;
use std::ptr::{self, NonNull};

use ffmpeg_next::ffi;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame;

use crate::MediaError;

/// Surfaces in the pool: one being filled, one being encoded, slack for the driver.
const POOL_SIZE: i32 = 4;

/// A VAAPI device and surface pool.
pub struct VaapiUpload {
    device: NonNull<ffi::AVBufferRef>,
    frames: NonNull<ffi::AVBufferRef>,
}

// SAFETY: the two buffer references are owned by this value alone; FFmpeg's hwcontext objects may be used
// from any thread as long as calls are not concurrent, which `&mut self`/ownership guarantees.
unsafe impl Send for VaapiUpload {}

impl VaapiUpload {
    /// Opens the VAAPI driver on `node` and creates a pool of `sw_format` surfaces.
    pub fn new(node: &Path, sw_format: Pixel, width: u32, height: u32) -> Result<Self, String> {
        let path = CString::new(node.as_os_str().as_encoded_bytes())
            .map_err(|_| "render node path contains NUL".to_string())?;
        let mut device: *mut ffi::AVBufferRef = ptr::null_mut();
        // SAFETY: out-pointer to a local; `path` is NUL-terminated and outlives the call.
        let ret = unsafe {
            ffi::av_hwdevice_ctx_create(
                &mut device,
                ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_VAAPI,
                path.as_ptr(),
                ptr::null_mut(),
                0,
            )
        };
        if ret < 0 {
            return Err(format!(
                "VAAPI device on {}: {}",
                node.display(),
                ffmpeg_next::Error::from(ret)
            ));
        }
        let device = NonNull::new(device)
            .ok_or_else(|| "VAAPI device creation returned nothing".to_string())?;
        // SAFETY: `device` is a valid hw device reference; the frames context it returns is checked for null
        // and its `data` is an AVHWFramesContext by contract of av_hwframe_ctx_alloc. On failure every
        // reference taken here is released.
        unsafe {
            let frames = ffi::av_hwframe_ctx_alloc(device.as_ptr());
            let Some(frames) = NonNull::new(frames) else {
                ffi::av_buffer_unref(&mut device.as_ptr());
                return Err("VAAPI frames context allocation failed".into());
            };
            let ctx = (*frames.as_ptr()).data.cast::<ffi::AVHWFramesContext>();
            (*ctx).format = ffi::AVPixelFormat::AV_PIX_FMT_VAAPI;
            (*ctx).sw_format = sw_format.into();
            (*ctx).width = width as i32;
            (*ctx).height = height as i32;
            (*ctx).initial_pool_size = POOL_SIZE;
            let ret = ffi::av_hwframe_ctx_init(frames.as_ptr());
            if ret < 0 {
                ffi::av_buffer_unref(&mut frames.as_ptr());
                ffi::av_buffer_unref(&mut device.as_ptr());
                return Err(format!(
                    "VAAPI {sw_format:?} surface pool: {}",
                    ffmpeg_next::Error::from(ret)
                ));
            }
            Ok(Self { device, frames })
        }
    }

    /// Points an encoder context (not yet opened) at this surface pool.
    ///
    /// # Safety
    /// `ctx` must be a valid, unopened encoder context.
    pub unsafe fn attach(&self, ctx: *mut ffi::AVCodecContext) -> Result<(), MediaError> {
        // SAFETY: caller guarantees `ctx`; the new reference is owned by the context and released by
        // avcodec_free_context.
        unsafe {
            let frames = ffi::av_buffer_ref(self.frames.as_ptr());
            if frames.is_null() {
                return Err(MediaError::Unsupported("VAAPI frames reference".into()));
            }
            (*ctx).hw_frames_ctx = frames;
            (*ctx).pix_fmt = ffi::AVPixelFormat::AV_PIX_FMT_VAAPI;
        }
        Ok(())
    }

    /// Copies a system-memory picture into a fresh surface, with its properties (pts, picture type, colour).
    pub fn upload(&self, picture: &frame::Video) -> Result<frame::Video, MediaError> {
        let mut surface = frame::Video::empty();
        // SAFETY: `surface` is a fresh AVFrame, `self.frames` a valid initialised frames context and
        // `picture` an allocated frame matching the pool's sw_format and size.
        unsafe {
            let ret = ffi::av_hwframe_get_buffer(self.frames.as_ptr(), surface.as_mut_ptr(), 0);
            if ret < 0 {
                return Err(ffmpeg_next::Error::from(ret).into());
            }
            let ret = ffi::av_hwframe_transfer_data(surface.as_mut_ptr(), picture.as_ptr(), 0);
            if ret < 0 {
                return Err(ffmpeg_next::Error::from(ret).into());
            }
            let ret = ffi::av_frame_copy_props(surface.as_mut_ptr(), picture.as_ptr());
            if ret < 0 {
                return Err(ffmpeg_next::Error::from(ret).into());
            }
        }
        Ok(surface)
    }
}

impl Drop for VaapiUpload {
    fn drop(&mut self) {
        // SAFETY: both references are ours and released exactly once; encoders hold their own references.
        unsafe {
            ffi::av_buffer_unref(&mut self.frames.as_ptr());
            ffi::av_buffer_unref(&mut self.device.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_render_node_fails_cleanly() {
        crate::init().unwrap_or_default();
        let err =
            VaapiUpload::new(Path::new("/nonexistent/renderD128"), Pixel::NV12, 640, 360).err();
        assert!(err.is_some_and(|e| e.contains("VAAPI device")));
    }
}
