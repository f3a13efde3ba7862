//! Tag–length–value encoding of control messages.
//!
//! A message body is `version u8 | type u16 | fields…`, each field `tag u16 | len u16 | value`, all
//! little-endian. Receivers skip fields with tags they do not know, so either side can add fields
//! without a version bump; a missing required field is an error. On a QUIC stream every body is
//! preceded by its length as `u32` (at most [`MAX_MESSAGE_LEN`]).

use super::ControlError;

/// Largest control message body.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;
/// Control protocol version carried in every message.
pub(super) const CONTROL_VERSION: u8 = 1;

/// Builds one message body.
pub struct FieldWriter {
    buf: Vec<u8>,
}

impl FieldWriter {
    /// Starts a body of `message_type` with the version byte.
    pub fn new(message_type: u16) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.push(CONTROL_VERSION);
        buf.extend_from_slice(&message_type.to_le_bytes());
        FieldWriter { buf }
    }
    /// Appends a field; a value longer than 65 535 bytes is cut to fit the 16-bit length.
    pub fn bytes(&mut self, tag: u16, value: &[u8]) -> &mut Self {
        // Values are bounded by their types (names are capped on construction), so this never truncates.
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&tag.to_le_bytes());
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&value[..usize::from(len)]);
        self
    }
    /// Appends a one-byte integer field.
    pub fn u8(&mut self, tag: u16, v: u8) -> &mut Self {
        self.bytes(tag, &[v])
    }
    /// Appends an LE16 field.
    pub fn u16(&mut self, tag: u16, v: u16) -> &mut Self {
        self.bytes(tag, &v.to_le_bytes())
    }
    /// Appends an LE32 field.
    pub fn u32(&mut self, tag: u16, v: u32) -> &mut Self {
        self.bytes(tag, &v.to_le_bytes())
    }
    /// Appends an LE64 field.
    pub fn u64(&mut self, tag: u16, v: u64) -> &mut Self {
        self.bytes(tag, &v.to_le_bytes())
    }
    /// Appends a signed LE64 field.
    pub fn i64(&mut self, tag: u16, v: i64) -> &mut Self {
        self.bytes(tag, &v.to_le_bytes())
    }
    /// Appends a UTF-8 string field (no terminator).
    pub fn str(&mut self, tag: u16, v: &str) -> &mut Self {
        self.bytes(tag, v.as_bytes())
    }
    /// The finished body, without a length prefix (see [`frame`]).
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Reads one message body: its type and fields by tag (the last occurrence of a tag wins).
pub struct FieldReader<'a> {
    /// Message type of the body (the `Message` variant's number).
    pub message_type: u16,
    fields: Vec<(u16, &'a [u8])>,
}

impl<'a> FieldReader<'a> {
    /// Splits a body into its fields; a wrong version or a field running past the end is an error.
    pub fn parse(body: &'a [u8]) -> Result<Self, ControlError> {
        if body.len() > MAX_MESSAGE_LEN {
            return Err(ControlError::TooLong(body.len()));
        }
        let (&version, rest) = body.split_first().ok_or(ControlError::Truncated)?;
        if version != CONTROL_VERSION {
            return Err(ControlError::Version(version));
        }
        let message_type = u16::from_le_bytes(
            rest.get(..2)
                .ok_or(ControlError::Truncated)?
                .try_into()
                .map_err(|_| ControlError::Truncated)?,
        );
        let mut rest = &rest[2..];
        let mut fields = Vec::new();
        while !rest.is_empty() {
            let head = rest.get(..4).ok_or(ControlError::Truncated)?;
            let tag = u16::from_le_bytes([head[0], head[1]]);
            let len = usize::from(u16::from_le_bytes([head[2], head[3]]));
            let value = rest.get(4..4 + len).ok_or(ControlError::Truncated)?;
            fields.push((tag, value));
            rest = &rest[4 + len..];
        }
        Ok(FieldReader {
            message_type,
            fields,
        })
    }

    fn raw(&self, tag: u16) -> Option<&'a [u8]> {
        self.fields
            .iter()
            .rev()
            .find(|(t, _)| *t == tag)
            .map(|(_, v)| *v)
    }
    /// Every value of a repeated field, in message order.
    pub fn all(&self, tag: u16) -> impl Iterator<Item = &'a [u8]> {
        self.fields
            .iter()
            .filter(move |(t, _)| *t == tag)
            .map(|(_, v)| *v)
    }
    fn fixed<const N: usize>(
        &self,
        tag: u16,
        name: &'static str,
    ) -> Result<Option<[u8; N]>, ControlError> {
        match self.raw(tag) {
            None => Ok(None),
            Some(v) => v
                .try_into()
                .map(Some)
                .map_err(|_| ControlError::BadField(name)),
        }
    }
    /// An optional fixed-size field; `Err` if present with another length.
    pub fn opt_array<const N: usize>(
        &self,
        tag: u16,
        name: &'static str,
    ) -> Result<Option<[u8; N]>, ControlError> {
        self.fixed(tag, name)
    }
    /// An optional one-byte field; `Err` if present with another length.
    pub fn opt_u8(&self, tag: u16, name: &'static str) -> Result<Option<u8>, ControlError> {
        Ok(self.fixed::<1>(tag, name)?.map(|b| b[0]))
    }
    /// An optional LE16 field; `Err` if present with another length.
    pub fn opt_u16(&self, tag: u16, name: &'static str) -> Result<Option<u16>, ControlError> {
        Ok(self.fixed(tag, name)?.map(u16::from_le_bytes))
    }
    /// An optional LE32 field; `Err` if present with another length.
    pub fn opt_u32(&self, tag: u16, name: &'static str) -> Result<Option<u32>, ControlError> {
        Ok(self.fixed(tag, name)?.map(u32::from_le_bytes))
    }
    /// An optional LE64 field; `Err` if present with another length.
    pub fn opt_u64(&self, tag: u16, name: &'static str) -> Result<Option<u64>, ControlError> {
        Ok(self.fixed(tag, name)?.map(u64::from_le_bytes))
    }
    /// A required one-byte field; [`ControlError::Missing`] names it when absent.
    pub fn u8(&self, tag: u16, name: &'static str) -> Result<u8, ControlError> {
        self.opt_u8(tag, name)?.ok_or(ControlError::Missing(name))
    }
    /// A required LE16 field.
    pub fn u16(&self, tag: u16, name: &'static str) -> Result<u16, ControlError> {
        self.opt_u16(tag, name)?.ok_or(ControlError::Missing(name))
    }
    /// A required LE32 field.
    pub fn u32(&self, tag: u16, name: &'static str) -> Result<u32, ControlError> {
        self.opt_u32(tag, name)?.ok_or(ControlError::Missing(name))
    }
    /// A required LE64 field.
    pub fn u64(&self, tag: u16, name: &'static str) -> Result<u64, ControlError> {
        self.opt_u64(tag, name)?.ok_or(ControlError::Missing(name))
    }
    /// A required signed LE64 field.
    pub fn i64(&self, tag: u16, name: &'static str) -> Result<i64, ControlError> {
        Ok(i64::from_le_bytes(
            self.fixed(tag, name)?.ok_or(ControlError::Missing(name))?,
        ))
    }
    /// A required field's raw bytes.
    pub fn bytes(&self, tag: u16, name: &'static str) -> Result<&'a [u8], ControlError> {
        self.raw(tag).ok_or(ControlError::Missing(name))
    }
    /// A required UTF-8 string field.
    pub fn string(&self, tag: u16, name: &'static str) -> Result<String, ControlError> {
        std::str::from_utf8(self.bytes(tag, name)?)
            .map(str::to_owned)
            .map_err(|_| ControlError::BadField(name))
    }
}

/// Pulls length-prefixed message bodies out of a byte stream as it arrives.
#[derive(Default)]
pub struct FrameBuffer {
    buf: Vec<u8>,
}

impl FrameBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }
    /// Appends bytes read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    /// The next complete body, if one has arrived.
    pub fn next_body(&mut self) -> Result<Option<Vec<u8>>, ControlError> {
        let Some(head) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > MAX_MESSAGE_LEN {
            return Err(ControlError::TooLong(len));
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let body = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Ok(Some(body))
    }
}

/// Prefixes a body with its length for a stream.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out
}
