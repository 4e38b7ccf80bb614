//! PDU framing on top of rusmpp's command types.
//!
//! rusmpp's `CommandCodec` ends the stream at the first PDU whose body it cannot decode. A
//! carrier link must survive that, so this codec frames by `command_length` itself, hands
//! each complete frame to rusmpp, and turns a body it cannot decode into
//! [`Frame::Invalid`] with the header facts needed to answer it (`generic_nack`, or the
//! response with an error status). Only a broken length (below 16 or above the maximum)
//! is fatal, because framing is lost.

use bytes::{Buf, BytesMut};
use rusmpp::decode::DecodeWithLength;
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio_util::codec::{Decoder, Encoder};

/// Smallest PDU: the 16-byte header.
const HEADER: usize = 16;
/// Largest PDU accepted: room for a 64 KiB `message_payload`.
pub const MAX_PDU: usize = 70_000;

/// A decoded frame.
// Nearly every value is the large variant; boxing it would allocate once per PDU.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Frame {
    /// A PDU rusmpp understood.
    Command(Command),
    /// A well-framed PDU whose body could not be decoded.
    Invalid {
        /// `command_id` from the header.
        command_id: u32,
        /// `command_status` from the header.
        command_status: u32,
        /// `sequence_number` from the header.
        sequence_number: u32,
        /// Why decoding failed.
        error: String,
    },
}

/// Why the stream cannot continue.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Socket error.
    #[error("i/o error")]
    Io(#[from] std::io::Error),
    /// A `command_length` out of range: framing is lost.
    #[error("invalid command_length {0}")]
    Length(u32),
    /// rusmpp failed to encode.
    #[error("encode error: {0}")]
    Encode(String),
}

/// The SMPP codec used by both the connector and the simulator.
#[derive(Debug, Default)]
pub struct PduCodec {
    inner: CommandCodec,
}

impl PduCodec {
    /// A codec accepting PDUs up to [`MAX_PDU`] bytes.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Decoder for PduCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let length = u32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        let len = length as usize;
        if !(HEADER..=MAX_PDU).contains(&len) {
            return Err(CodecError::Length(length));
        }
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        let mut frame = src.split_to(len);
        frame.advance(4);
        let header =
            |i: usize| u32::from_be_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
        let (command_id, command_status, sequence_number) = (header(0), header(4), header(8));
        let decoded = <Command as DecodeWithLength>::decode(&mut frame, len - 4);
        Ok(Some(match decoded {
            Ok((command, _)) => Frame::Command(command),
            Err(error) => Frame::Invalid {
                command_id,
                command_status,
                sequence_number,
                error: error.to_string(),
            },
        }))
    }
}

impl Encoder<Command> for PduCodec {
    type Error = CodecError;

    fn encode(&mut self, command: Command, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.inner
            .encode(&command, dst)
            .map_err(|e| CodecError::Encode(e.to_string()))
    }
}

/// A response PDU without a body (e.g. `submit_sm_resp` with an error status, which SMPP
/// 3.4 §4.4.2 sends without `message_id`).
pub fn bodiless(id: CommandId, status: u32, sequence_number: u32) -> Command {
    Command::from_parts(rusmpp::command::CommandParts::new(
        id,
        CommandStatus::from(status),
        sequence_number,
        None,
    ))
}

/// A `generic_nack` with `status`.
pub fn generic_nack(status: u32, sequence_number: u32) -> Command {
    Command::new(
        CommandStatus::from(status),
        sequence_number,
        Pdu::GenericNack,
    )
}

/// The response `command_id` for a request id (bit 31 set).
pub fn response_id(command_id: u32) -> CommandId {
    CommandId::from(command_id | 0x8000_0000)
}

/// Whether a `command_id` is a response.
pub fn is_response(command_id: u32) -> bool {
    command_id & 0x8000_0000 != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(command: Command) -> BytesMut {
        let mut buf = BytesMut::new();
        PduCodec::new().encode(command, &mut buf).unwrap();
        buf
    }

    #[test]
    fn round_trips_and_keeps_going_after_a_broken_body() {
        let mut buf = encode(Command::new(CommandStatus::EsmeRok, 7, Pdu::EnquireLink));
        // A submit_sm whose body is one byte of garbage.
        buf.extend_from_slice(&[0, 0, 0, 17, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9, 0xFF]);
        buf.extend_from_slice(&encode(bodiless(CommandId::SubmitSmResp, 0x58, 8)));
        let mut codec = PduCodec::new();
        match codec.decode(&mut buf).unwrap() {
            Some(Frame::Command(c)) => {
                assert_eq!((c.id(), c.sequence_number()), (CommandId::EnquireLink, 7))
            }
            other => panic!("{other:?}"),
        }
        match codec.decode(&mut buf).unwrap() {
            Some(Frame::Invalid {
                command_id,
                sequence_number,
                ..
            }) => {
                assert_eq!((command_id, sequence_number), (4, 9))
            }
            other => panic!("{other:?}"),
        }
        match codec.decode(&mut buf).unwrap() {
            Some(Frame::Command(c)) => {
                assert_eq!(c.id(), CommandId::SubmitSmResp);
                assert_eq!(u32::from(c.status()), 0x58);
                assert!(c.pdu().is_none());
            }
            other => panic!("{other:?}"),
        }
        assert!(codec.decode(&mut buf).unwrap().is_none());
    }

    #[test]
    fn broken_lengths_are_fatal() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 3, 1, 2, 3, 4][..]);
        assert!(PduCodec::new().decode(&mut buf).is_err());
        let mut buf = BytesMut::from(&[0xFFu8, 0, 0, 0][..]);
        assert!(PduCodec::new().decode(&mut buf).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..8)) {
            let mut codec = PduCodec::new();
            let mut buf = BytesMut::new();
            'outer: for chunk in chunks {
                buf.extend_from_slice(&chunk);
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(_)) => continue,
                        Ok(None) => break,
                        Err(_) => break 'outer,
                    }
                }
            }
        }

        #[test]
        fn well_framed_garbage_bodies_never_panic(id in any::<u32>(), status in any::<u32>(), seq in any::<u32>(), body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut buf = BytesMut::new();
            buf.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
            buf.extend_from_slice(&id.to_be_bytes());
            buf.extend_from_slice(&status.to_be_bytes());
            buf.extend_from_slice(&seq.to_be_bytes());
            buf.extend_from_slice(&body);
            let frame = PduCodec::new().decode(&mut buf).unwrap();
            prop_assert!(frame.is_some());
            prop_assert!(buf.is_empty());
        }
    }
}
