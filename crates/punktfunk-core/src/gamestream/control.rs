//! The GameStream control stream's messages and their encrypted envelope (appversion ≥ 7.1.431,
//! control-v2 encryption). Every ENet packet, both ways:
//!
//! `LE16 0x0001 ‖ LE16 length ‖ LE32 seq ‖ GCM tag (16) ‖ ciphertext`, `length = 4 + 16 + plaintext`
//!
//! The plaintext is `LE16 type ‖ LE16 payload length ‖ payload`. AES-128-GCM with the `rikey`, no AAD,
//! and a 12-byte IV of `LE32 seq ‖ 6 zero bytes ‖ origin ‖ 'C'` where the origin byte is `'C'` for
//! client → host and `'H'` for host → client, so the two directions never share an IV. Each side
//! numbers its own packets from 0.
//!
//! The same type code can mean different things per direction (0x5502 is the client's frame FEC
//! status and the host's RGB LED command), so each direction has its own message enum.
//!
//! One concept, one file (longer than most): the control stream's envelope and each message type
//! it carries, both directions.

use super::input::{InputError, InputEvent};
use crate::crypto::{ReplayCheck, ReplayWindow};
use aws_lc_rs::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

/// Header type of an encrypted control packet (the only kind control-v2 sends).
pub const ENCRYPTED_HEADER_TYPE: u16 = 0x0001;
/// `LE16 type`, `LE16 length`, `LE32 seq`.
pub const ENVELOPE_HEADER_LEN: usize = 8;
/// Bytes of the AES-GCM tag between the envelope header and the ciphertext.
pub const TAG_LEN: usize = 16;
/// `LE16 type`, `LE16 payload length` at the start of every plaintext.
pub const MESSAGE_HEADER_LEN: usize = 4;
/// The length field is 16 bits and counts seq + tag + plaintext.
pub const MAX_PLAINTEXT: usize = u16::MAX as usize - 4 - TAG_LEN;

/// Client → host: keep-alive every 100 ms, resets the session's silence timeout.
pub const TYPE_PERIODIC_PING: u16 = 0x0200;
/// Client → host: periodic loss statistics (decoded as [`ClientMessage::Unknown`]).
pub const TYPE_LOSS_STATS: u16 = 0x0201;
/// Client → host: per-frame statistics (decoded as [`ClientMessage::Unknown`]).
pub const TYPE_FRAME_STATS: u16 = 0x0204;
/// Client → host: one input packet (decoded by [`super::input`]).
pub const TYPE_INPUT: u16 = 0x0206;
/// Client → host: reference frames were lost; two LE64 frame numbers, first and last.
pub const TYPE_INVALIDATE_REF_FRAMES: u16 = 0x0301;
/// Client → host: request an IDR frame (also sent once at stream start).
pub const TYPE_REQUEST_IDR: u16 = 0x0302;
/// Client → host: "start B", the client's streams are set up.
pub const TYPE_START_B: u16 = 0x0307;
/// Client → host: a long-term reference frame arrived (LE32 frame index).
pub const TYPE_LTR_ACK: u16 = 0x0350;
/// Client → host: per-frame FEC status (Sunshine extension, 21 big-endian bytes); host → client the same code is [`TYPE_RGB_LED`].
pub const TYPE_FRAME_FEC_STATUS: u16 = 0x5502;
/// Host → client: the session ends (BE32 HRESULT code).
pub const TYPE_TERMINATION: u16 = 0x0109;
/// Host → client: gamepad motors (LE16 controller, low- and high-frequency strength).
pub const TYPE_RUMBLE: u16 = 0x010b;
/// Host → client: HDR on/off with the stream's mastering metadata.
pub const TYPE_HDR_MODE: u16 = 0x010e;
/// Host → client: trigger motors (Sunshine extension).
pub const TYPE_TRIGGER_RUMBLE: u16 = 0x5500;
/// Host → client: ask for accelerometer/gyroscope reports at a rate (Sunshine extension).
pub const TYPE_MOTION_EVENT_ENABLE: u16 = 0x5501;
/// Host → client: controller light-bar colour (Sunshine extension; same code as the client's [`TYPE_FRAME_FEC_STATUS`]).
pub const TYPE_RGB_LED: u16 = 0x5502;
/// Host → client: DualSense adaptive-trigger effects (Sunshine extension).
pub const TYPE_ADAPTIVE_TRIGGERS: u16 = 0x5503;

/// `NVST_DISCONN_SERVER_TERMINATED_CLOSED`: the client reports a graceful end (if it saw frames).
pub const TERMINATION_GRACEFUL: u32 = 0x8003_0023;
/// Bytes of each DualSense adaptive-trigger effect block.
pub const TRIGGER_EFFECT_LEN: usize = 10;

/// Why a control packet could not be sealed, opened or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The packet is shorter than envelope header plus tag; carries its length.
    #[error("packet of {0} bytes is shorter than the encrypted envelope")]
    TooShort(usize),
    /// The header type is not [`ENCRYPTED_HEADER_TYPE`] (e.g. a plaintext client); carries it.
    #[error("not an encrypted control packet (header type {0:#06x})")]
    NotEncrypted(u16),
    /// The envelope's length field does not account for exactly the packet's bytes.
    #[error("envelope length {declared} disagrees with the {actual}-byte packet")]
    LengthMismatch {
        /// Value of the envelope's length field.
        declared: u16,
        /// Bytes of the packet after the type and length fields.
        actual: usize,
    },
    /// AES-GCM rejected the tag: wrong key, wrong direction or a forged packet.
    #[error("authentication failed")]
    BadTag,
    /// A message too long for the 16-bit length field; carries its plaintext length.
    #[error("plaintext of {0} bytes does not fit the 16-bit length field")]
    TooLong(usize),
    /// The `rikey` was not accepted as an AES-128 key.
    #[error("invalid AES-128 key")]
    BadKey,
    /// The plaintext's payload length field disagrees with the bytes present.
    #[error("message header says {declared} payload bytes, {actual} present")]
    PayloadLength {
        /// Value of the payload length field.
        declared: u16,
        /// Payload bytes actually present.
        actual: usize,
    },
    /// The payload is shorter than its message type's fixed layout.
    #[error("message {ty:#06x} needs {need} payload bytes, has {have}")]
    Truncated {
        /// Message type code.
        ty: u16,
        /// Payload bytes its layout needs.
        need: usize,
        /// Payload bytes present.
        have: usize,
    },
    /// A host-message type code this decoder does not know (client-side decoding); carries it.
    #[error("unknown host message type {0:#06x}")]
    UnknownType(u16),
    /// An input (0x0206) payload that did not decode.
    #[error("input message: {0}")]
    Input(#[from] InputError),
    /// A sequence number already opened: the packet is a replay and is dropped.
    #[error("sequence number {0} was already received (replay)")]
    Replayed(u32),
    /// A sequence number older than the replay window covers; carries it.
    #[error("sequence number {0} is too far behind the newest one received")]
    TooOld(u32),
}

/// Who sealed a packet; part of the IV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Client → host; IV byte `'C'`.
    Client,
    /// Host → client; IV byte `'H'`.
    Host,
}

fn iv(origin: Origin, seq: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[..4].copy_from_slice(&seq.to_le_bytes());
    iv[10] = match origin {
        Origin::Client => b'C',
        Origin::Host => b'H',
    };
    iv[11] = b'C';
    iv
}

/// AES-128-GCM with the session's `rikey`; seals and opens envelopes of either origin.
pub struct ControlCipher {
    key: LessSafeKey,
}

impl ControlCipher {
    /// A cipher for the session's 16-byte `rikey` (from the launch request).
    pub fn new(rikey: &[u8; 16]) -> Result<Self, ControlError> {
        let key = UnboundKey::new(&AES_128_GCM, rikey).map_err(|_| ControlError::BadKey)?;
        Ok(ControlCipher {
            key: LessSafeKey::new(key),
        })
    }

    /// Wraps `plaintext` (a message with its 4-byte header) into an envelope.
    pub fn seal(
        &self,
        origin: Origin,
        seq: u32,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, ControlError> {
        if plaintext.len() > MAX_PLAINTEXT {
            return Err(ControlError::TooLong(plaintext.len()));
        }
        let length = (4 + TAG_LEN + plaintext.len()) as u16;
        let mut packet = Vec::with_capacity(ENVELOPE_HEADER_LEN + TAG_LEN + plaintext.len());
        packet.extend_from_slice(&ENCRYPTED_HEADER_TYPE.to_le_bytes());
        packet.extend_from_slice(&length.to_le_bytes());
        packet.extend_from_slice(&seq.to_le_bytes());
        packet.extend_from_slice(&[0u8; TAG_LEN]);
        packet.extend_from_slice(plaintext);
        let (head, body) = packet.split_at_mut(ENVELOPE_HEADER_LEN + TAG_LEN);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv(origin, seq)),
                Aad::empty(),
                body,
            )
            .map_err(|_| ControlError::BadTag)?;
        head[ENVELOPE_HEADER_LEN..].copy_from_slice(tag.as_ref());
        Ok(packet)
    }

    /// Authenticates and decrypts an envelope sealed by `origin`; returns its sequence number and
    /// plaintext.
    pub fn open(&self, origin: Origin, packet: &[u8]) -> Result<(u32, Vec<u8>), ControlError> {
        if packet.len() < ENVELOPE_HEADER_LEN + TAG_LEN {
            return Err(ControlError::TooShort(packet.len()));
        }
        let header_type = u16::from_le_bytes([packet[0], packet[1]]);
        if header_type != ENCRYPTED_HEADER_TYPE {
            return Err(ControlError::NotEncrypted(header_type));
        }
        let declared = u16::from_le_bytes([packet[2], packet[3]]);
        if usize::from(declared) + 4 != packet.len() {
            return Err(ControlError::LengthMismatch {
                declared,
                actual: packet.len(),
            });
        }
        let seq = u32::from_le_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let tag = &packet[ENVELOPE_HEADER_LEN..ENVELOPE_HEADER_LEN + TAG_LEN];
        let mut in_out = packet[ENVELOPE_HEADER_LEN + TAG_LEN..].to_vec();
        in_out.extend_from_slice(tag);
        let plain_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(iv(origin, seq)),
                Aad::empty(),
                &mut in_out,
            )
            .map_err(|_| ControlError::BadTag)?
            .len();
        in_out.truncate(plain_len);
        Ok((seq, in_out))
    }
}

/// The host's end of the control stream: numbers and seals what it sends, opens what the client
/// sent. Received sequence numbers go through a sliding replay window rather than a strict order
/// check: ENet delivers the client's unsequenced channels (FEC status) out of order, but a packet
/// captured on the LAN and sent again must not repeat an input event.
///
/// One `HostControl` per launch key: its send counter is the only thing that keeps GCM nonces
/// unique under that key, so the host never creates a second one for the same session.
pub struct HostControl {
    cipher: ControlCipher,
    next_seq: u32,
    received: ReplayWindow,
}

impl HostControl {
    /// A host-side endpoint for the session's `rikey`; its own sequence starts at 0.
    pub fn new(rikey: &[u8; 16]) -> Result<Self, ControlError> {
        Ok(HostControl {
            cipher: ControlCipher::new(rikey)?,
            next_seq: 0,
            received: ReplayWindow::new(),
        })
    }

    /// The ENet packet carrying `message`.
    pub fn seal(&mut self, message: &HostMessage) -> Result<Vec<u8>, ControlError> {
        let packet = self
            .cipher
            .seal(Origin::Host, self.next_seq, &message.to_plaintext())?;
        self.next_seq = self.next_seq.wrapping_add(1);
        Ok(packet)
    }

    /// Decodes one ENet packet from the client; a sequence number seen before (or older than the
    /// replay window) is refused after authentication, so forgeries cannot poison the window.
    pub fn open(&mut self, packet: &[u8]) -> Result<ClientMessage, ControlError> {
        let (seq, plaintext) = self.cipher.open(Origin::Client, packet)?;
        match self.received.check(u64::from(seq)) {
            ReplayCheck::Fresh => self.received.accept(u64::from(seq)),
            ReplayCheck::Replayed => return Err(ControlError::Replayed(seq)),
            ReplayCheck::TooOld => return Err(ControlError::TooOld(seq)),
        }
        ClientMessage::from_plaintext(&plaintext)
    }
}

/// Splits `LE16 type ‖ LE16 payload length ‖ payload`; the length must match exactly.
pub fn split_plaintext(plaintext: &[u8]) -> Result<(u16, &[u8]), ControlError> {
    if plaintext.len() < MESSAGE_HEADER_LEN {
        return Err(ControlError::TooShort(plaintext.len()));
    }
    let ty = u16::from_le_bytes([plaintext[0], plaintext[1]]);
    let declared = u16::from_le_bytes([plaintext[2], plaintext[3]]);
    let payload = &plaintext[MESSAGE_HEADER_LEN..];
    if usize::from(declared) != payload.len() {
        return Err(ControlError::PayloadLength {
            declared,
            actual: payload.len(),
        });
    }
    Ok((ty, payload))
}

fn join_plaintext(ty: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MESSAGE_HEADER_LEN + payload.len());
    out.extend_from_slice(&ty.to_le_bytes());
    // Payloads built here are a few dozen bytes; anything else is Unknown and came in as ≤ u16::MAX.
    out.extend_from_slice(&(payload.len().min(usize::from(u16::MAX)) as u16).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

fn need(ty: u16, payload: &[u8], n: usize) -> Result<(), ControlError> {
    if payload.len() < n {
        return Err(ControlError::Truncated {
            ty,
            need: n,
            have: payload.len(),
        });
    }
    Ok(())
}

fn le16(p: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([p[at], p[at + 1]])
}

fn be16(p: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([p[at], p[at + 1]])
}

/// The client's per-frame FEC report (Sunshine extension, 0x5502 client → host, big-endian fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameFecStatus {
    /// Frame number the report is about.
    pub frame_index: u32,
    /// Highest RTP sequence number received for the frame.
    pub highest_received_sequence: u16,
    /// First sequence number not yet received in order (everything before it arrived).
    pub next_contiguous_sequence: u16,
    /// Packets missing below the highest one received.
    pub missing_before_highest: u16,
    /// Data shards the frame (or its FEC block) was sent with.
    pub total_data_packets: u16,
    /// Parity shards the frame (or its FEC block) was sent with.
    pub total_parity_packets: u16,
    /// Data shards that arrived.
    pub received_data_packets: u16,
    /// Parity shards that arrived.
    pub received_parity_packets: u16,
    /// Parity percentage the host used for the frame.
    pub fec_percent: u8,
    /// Which FEC block of the frame this is, 0-based.
    pub block_index: u8,
    /// How many FEC blocks the frame was split into (1 to 4).
    pub block_count: u8,
}

const FEC_STATUS_LEN: usize = 21;

impl FrameFecStatus {
    fn decode(p: &[u8]) -> Self {
        FrameFecStatus {
            frame_index: u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
            highest_received_sequence: be16(p, 4),
            next_contiguous_sequence: be16(p, 6),
            missing_before_highest: be16(p, 8),
            total_data_packets: be16(p, 10),
            total_parity_packets: be16(p, 12),
            received_data_packets: be16(p, 14),
            received_parity_packets: be16(p, 16),
            fec_percent: p[18],
            block_index: p[19],
            block_count: p[20],
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut p = self.frame_index.to_be_bytes().to_vec();
        for v in [
            self.highest_received_sequence,
            self.next_contiguous_sequence,
            self.missing_before_highest,
            self.total_data_packets,
            self.total_parity_packets,
            self.received_data_packets,
            self.received_parity_packets,
        ] {
            p.extend_from_slice(&v.to_be_bytes());
        }
        p.extend_from_slice(&[self.fec_percent, self.block_index, self.block_count]);
        p
    }
}

/// Client → host control messages.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// 0x0302: send an IDR frame (also sent once at stream start).
    RequestIdr,
    /// 0x0307: the client's streams are set up.
    StartB,
    /// 0x0200 every 100 ms; resets the session's silence timeout.
    PeriodicPing,
    /// 0x0301: frames `first..=last` were lost; stop referencing them.
    InvalidateReferenceFrames {
        /// First lost frame number.
        first: u64,
        /// Last lost frame number (inclusive).
        last: u64,
    },
    /// 0x5502: per-frame FEC statistics.
    FrameFecStatus(FrameFecStatus),
    /// 0x0350: a long-term reference frame arrived.
    LtrAck {
        /// Frame number of the long-term reference frame the client received.
        frame_index: u32,
    },
    /// 0x0206: one input packet.
    Input(InputEvent),
    /// Anything else (loss stats 0x0201, frame stats 0x0204, …), kept raw.
    Unknown {
        /// Message type code, as received.
        ty: u16,
        /// The payload after the type and length fields.
        payload: Vec<u8>,
    },
}

impl ClientMessage {
    /// Decodes a decrypted plaintext (message header included).
    pub fn from_plaintext(plaintext: &[u8]) -> Result<Self, ControlError> {
        let (ty, p) = split_plaintext(plaintext)?;
        Ok(match ty {
            TYPE_REQUEST_IDR => ClientMessage::RequestIdr,
            TYPE_START_B => ClientMessage::StartB,
            TYPE_PERIODIC_PING => ClientMessage::PeriodicPing,
            TYPE_INVALIDATE_REF_FRAMES => {
                // Moonlight writes LE32 first, 0, LE32 last, 0 …: the same bytes as two LE64s.
                need(ty, p, 16)?;
                let le64 = |at: usize| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(&p[at..at + 8]);
                    u64::from_le_bytes(b)
                };
                ClientMessage::InvalidateReferenceFrames {
                    first: le64(0),
                    last: le64(8),
                }
            }
            TYPE_FRAME_FEC_STATUS => {
                need(ty, p, FEC_STATUS_LEN)?;
                ClientMessage::FrameFecStatus(FrameFecStatus::decode(p))
            }
            TYPE_LTR_ACK => {
                need(ty, p, 4)?;
                ClientMessage::LtrAck {
                    frame_index: u32::from_le_bytes([p[0], p[1], p[2], p[3]]),
                }
            }
            TYPE_INPUT => ClientMessage::Input(InputEvent::decode(p)?),
            _ => ClientMessage::Unknown {
                ty,
                payload: p.to_vec(),
            },
        })
    }

    /// The plaintext a Moonlight client sends for this message.
    pub fn to_plaintext(&self) -> Vec<u8> {
        match self {
            ClientMessage::RequestIdr => join_plaintext(TYPE_REQUEST_IDR, &[0, 0]),
            ClientMessage::StartB => join_plaintext(TYPE_START_B, &[0]),
            // LE16 4 and a zero LE32 "timestamp", as moonlight-common-c sends it.
            ClientMessage::PeriodicPing => join_plaintext(TYPE_PERIODIC_PING, &[4, 0, 0, 0, 0, 0]),
            ClientMessage::InvalidateReferenceFrames { first, last } => {
                let mut p = first.to_le_bytes().to_vec();
                p.extend_from_slice(&last.to_le_bytes());
                p.extend_from_slice(&[0; 8]);
                join_plaintext(TYPE_INVALIDATE_REF_FRAMES, &p)
            }
            ClientMessage::FrameFecStatus(s) => join_plaintext(TYPE_FRAME_FEC_STATUS, &s.encode()),
            ClientMessage::LtrAck { frame_index } => {
                let mut p = frame_index.to_le_bytes().to_vec();
                p.extend_from_slice(&[0; 4]);
                join_plaintext(TYPE_LTR_ACK, &p)
            }
            ClientMessage::Input(event) => join_plaintext(TYPE_INPUT, &event.encode()),
            ClientMessage::Unknown { ty, payload } => join_plaintext(*ty, payload),
        }
    }
}

/// Static HDR metadata (SMPTE ST 2086 + CTA-861.3), as sent with 0x010e.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HdrMetadata {
    /// R, G, B primaries (x, y) in units of 0.00002.
    pub display_primaries: [(u16, u16); 3],
    /// White point (x, y) in units of 0.00002.
    pub white_point: (u16, u16),
    /// cd/m².
    pub max_display_luminance: u16,
    /// 0.0001 cd/m².
    pub min_display_luminance: u16,
    /// MaxCLL: brightest pixel of the content, in cd/m².
    pub max_content_light_level: u16,
    /// MaxFALL: brightest frame's average level, in cd/m².
    pub max_frame_average_light_level: u16,
    /// Luminance the display holds over a full white frame, in cd/m².
    pub max_full_frame_luminance: u16,
}

/// 1 enable byte + 13 × LE16.
const HDR_PAYLOAD_LEN: usize = 27;

impl HdrMetadata {
    fn words(&self) -> [u16; 13] {
        let p = &self.display_primaries;
        [
            p[0].0,
            p[0].1,
            p[1].0,
            p[1].1,
            p[2].0,
            p[2].1,
            self.white_point.0,
            self.white_point.1,
            self.max_display_luminance,
            self.min_display_luminance,
            self.max_content_light_level,
            self.max_frame_average_light_level,
            self.max_full_frame_luminance,
        ]
    }

    fn from_words(w: [u16; 13]) -> Self {
        HdrMetadata {
            display_primaries: [(w[0], w[1]), (w[2], w[3]), (w[4], w[5])],
            white_point: (w[6], w[7]),
            max_display_luminance: w[8],
            min_display_luminance: w[9],
            max_content_light_level: w[10],
            max_frame_average_light_level: w[11],
            max_full_frame_luminance: w[12],
        }
    }
}

/// Host → client control messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostMessage {
    /// 0x0109 with a BE32 HRESULT; [`TERMINATION_GRACEFUL`] for a normal end. Disconnect ENet after.
    Termination {
        /// HRESULT explaining the end; [`TERMINATION_GRACEFUL`] for a normal end.
        code: u32,
    },
    /// 0x010b: gamepad motors, 0..=0xFFFF each.
    Rumble {
        /// Index of the gamepad to shake.
        controller: u16,
        /// Low-frequency (large) motor, 0..=0xFFFF.
        low_frequency: u16,
        /// High-frequency (small) motor, 0..=0xFFFF.
        high_frequency: u16,
    },
    /// 0x010e: HDR on or off, with the stream's mastering metadata.
    HdrMode {
        /// Whether the stream is HDR from now on.
        enabled: bool,
        /// Mastering metadata of the stream (all zero when unknown or HDR is off).
        metadata: HdrMetadata,
    },
    /// 0x5500: trigger motors.
    TriggerRumble {
        /// Index of the gamepad.
        controller: u16,
        /// Left trigger motor, 0..=0xFFFF.
        left: u16,
        /// Right trigger motor, 0..=0xFFFF.
        right: u16,
    },
    /// 0x5501: ask the client to report accelerometer (1) or gyroscope (2) at `report_rate_hz`
    /// (0 stops it).
    MotionEventEnable {
        /// Index of the gamepad.
        controller: u16,
        /// Reports per second wanted; 0 turns reporting off.
        report_rate_hz: u16,
        /// 1 accelerometer, 2 gyroscope.
        motion_type: u8,
    },
    /// 0x5502: controller light bar colour.
    RgbLed {
        /// Index of the gamepad.
        controller: u16,
        /// Red, 0..=255.
        red: u8,
        /// Green, 0..=255.
        green: u8,
        /// Blue, 0..=255.
        blue: u8,
    },
    /// 0x5503: DualSense adaptive-trigger effects (0x04 right, 0x08 left in `event_flags`).
    AdaptiveTriggers {
        /// Index of the gamepad.
        controller: u16,
        /// Which effects are present: 0x04 right, 0x08 left.
        event_flags: u8,
        /// Effect type byte of the left trigger (DualSense output report mode).
        type_left: u8,
        /// Effect type byte of the right trigger (DualSense output report mode).
        type_right: u8,
        /// Parameter bytes of the left trigger's effect.
        left: [u8; TRIGGER_EFFECT_LEN],
        /// Parameter bytes of the right trigger's effect.
        right: [u8; TRIGGER_EFFECT_LEN],
    },
}

impl HostMessage {
    /// Plaintext of this message: `LE16 type ‖ LE16 payload length ‖ payload`, ready to seal.
    pub fn to_plaintext(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(32);
        let ty = match self {
            HostMessage::Termination { code } => {
                p.extend_from_slice(&code.to_be_bytes());
                TYPE_TERMINATION
            }
            HostMessage::Rumble {
                controller,
                low_frequency,
                high_frequency,
            } => {
                p.extend_from_slice(&[0; 4]);
                for v in [controller, low_frequency, high_frequency] {
                    p.extend_from_slice(&v.to_le_bytes());
                }
                TYPE_RUMBLE
            }
            HostMessage::HdrMode { enabled, metadata } => {
                p.push(u8::from(*enabled));
                for w in metadata.words() {
                    p.extend_from_slice(&w.to_le_bytes());
                }
                TYPE_HDR_MODE
            }
            HostMessage::TriggerRumble {
                controller,
                left,
                right,
            } => {
                for v in [controller, left, right] {
                    p.extend_from_slice(&v.to_le_bytes());
                }
                TYPE_TRIGGER_RUMBLE
            }
            HostMessage::MotionEventEnable {
                controller,
                report_rate_hz,
                motion_type,
            } => {
                p.extend_from_slice(&controller.to_le_bytes());
                p.extend_from_slice(&report_rate_hz.to_le_bytes());
                p.push(*motion_type);
                TYPE_MOTION_EVENT_ENABLE
            }
            HostMessage::RgbLed {
                controller,
                red,
                green,
                blue,
            } => {
                p.extend_from_slice(&controller.to_le_bytes());
                p.extend_from_slice(&[*red, *green, *blue]);
                TYPE_RGB_LED
            }
            HostMessage::AdaptiveTriggers {
                controller,
                event_flags,
                type_left,
                type_right,
                left,
                right,
            } => {
                p.extend_from_slice(&controller.to_le_bytes());
                p.extend_from_slice(&[*event_flags, *type_left, *type_right]);
                p.extend_from_slice(left);
                p.extend_from_slice(right);
                TYPE_ADAPTIVE_TRIGGERS
            }
        };
        join_plaintext(ty, &p)
    }

    /// Decodes a host message the way moonlight-common-c reads it (for probes and tests).
    pub fn from_plaintext(plaintext: &[u8]) -> Result<Self, ControlError> {
        let (ty, p) = split_plaintext(plaintext)?;
        let truncated = |n: usize| need(ty, p, n);
        Ok(match ty {
            TYPE_TERMINATION => {
                truncated(4)?;
                HostMessage::Termination {
                    code: u32::from_be_bytes([p[0], p[1], p[2], p[3]]),
                }
            }
            TYPE_RUMBLE => {
                truncated(10)?;
                HostMessage::Rumble {
                    controller: le16(p, 4),
                    low_frequency: le16(p, 6),
                    high_frequency: le16(p, 8),
                }
            }
            TYPE_HDR_MODE => {
                truncated(HDR_PAYLOAD_LEN)?;
                let mut w = [0u16; 13];
                for (k, word) in w.iter_mut().enumerate() {
                    *word = le16(p, 1 + 2 * k);
                }
                HostMessage::HdrMode {
                    enabled: p[0] != 0,
                    metadata: HdrMetadata::from_words(w),
                }
            }
            TYPE_TRIGGER_RUMBLE => {
                truncated(6)?;
                HostMessage::TriggerRumble {
                    controller: le16(p, 0),
                    left: le16(p, 2),
                    right: le16(p, 4),
                }
            }
            TYPE_MOTION_EVENT_ENABLE => {
                truncated(5)?;
                HostMessage::MotionEventEnable {
                    controller: le16(p, 0),
                    report_rate_hz: le16(p, 2),
                    motion_type: p[4],
                }
            }
            TYPE_RGB_LED => {
                truncated(5)?;
                HostMessage::RgbLed {
                    controller: le16(p, 0),
                    red: p[2],
                    green: p[3],
                    blue: p[4],
                }
            }
            TYPE_ADAPTIVE_TRIGGERS => {
                truncated(5 + 2 * TRIGGER_EFFECT_LEN)?;
                let mut left = [0u8; TRIGGER_EFFECT_LEN];
                let mut right = [0u8; TRIGGER_EFFECT_LEN];
                left.copy_from_slice(&p[5..5 + TRIGGER_EFFECT_LEN]);
                right.copy_from_slice(&p[5 + TRIGGER_EFFECT_LEN..5 + 2 * TRIGGER_EFFECT_LEN]);
                HostMessage::AdaptiveTriggers {
                    controller: le16(p, 0),
                    event_flags: p[2],
                    type_left: p[3],
                    type_right: p[4],
                    left,
                    right,
                }
            }
            _ => return Err(ControlError::UnknownType(ty)),
        })
    }
}

#[cfg(test)]
mod tests;
