//! punktfunk/1 control messages on a stream: length-framed TLV messages read with
//! [`ControlReader`] and written with [`send`] (the framing and codec are `punktfunk_core::control`).
//! The same on a native client's QUIC stream and a browser's WebTransport stream.

use anyhow::Result;
use punktfunk_core::control::{FrameBuffer, Message, frame};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Reads control messages from a receive stream.
pub(super) struct ControlReader<R = quinn::RecvStream> {
    recv: R,
    buf: FrameBuffer,
}

impl<R: AsyncRead + Unpin> ControlReader<R> {
    pub(super) fn new(recv: R) -> Self {
        ControlReader {
            recv,
            buf: FrameBuffer::new(),
        }
    }

    /// The next message, or `None` when the peer finished the stream.
    pub(super) async fn next(&mut self) -> Result<Option<Message>> {
        loop {
            if let Some(body) = self.buf.next_body()? {
                return Ok(Some(Message::decode(&body)?));
            }
            let mut chunk = [0u8; 4096];
            match self.recv.read(&mut chunk).await? {
                0 => return Ok(None),
                n => self.buf.extend(&chunk[..n]),
            }
        }
    }
}

pub(super) async fn send<W: AsyncWrite + Unpin>(stream: &mut W, message: &Message) -> Result<()> {
    stream.write_all(&frame(&message.encode())).await?;
    Ok(())
}
