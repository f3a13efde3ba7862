//! punktfunk/1 control messages on a QUIC stream: length-framed TLV messages read with
//! [`ControlReader`] and written with [`send`] (the framing and codec are `punktfunk_core::control`).

use anyhow::Result;
use punktfunk_core::control::{FrameBuffer, Message, frame};

/// Reads control messages from a QUIC receive stream.
pub(super) struct ControlReader {
    recv: quinn::RecvStream,
    buf: FrameBuffer,
}

impl ControlReader {
    pub(super) fn new(recv: quinn::RecvStream) -> Self {
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
                Some(n) => self.buf.extend(&chunk[..n]),
                None => return Ok(None),
            }
        }
    }
}

pub(super) async fn send(stream: &mut quinn::SendStream, message: &Message) -> Result<()> {
    stream.write_all(&frame(&message.encode())).await?;
    Ok(())
}
