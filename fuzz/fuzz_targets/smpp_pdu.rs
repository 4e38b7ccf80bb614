//! Arbitrary bytes from an SMPP peer through `hato_smpp::codec::PduCodec`, and every message
//! PDU it decodes through `MessageView` and `inbound::classify`, as the connector and the
//! simulator do.
//!
//! Properties:
//! - framing: a frame consumes exactly its `command_length` bytes; "need more" consumes
//!   nothing; only a `command_length` outside 16..=MAX_PDU is an error;
//! - the same bytes arriving one byte per read give the same frames and the same end;
//! - a decoded command carries its header's id, status and sequence number (a refusal is
//!   answered with them), and so does an undecodable one;
//! - every decoded command encodes; for the PDUs Hato acts on, decoding that gives the same
//!   command and encoding it again the same bytes (but for two leniencies of rusmpp's: see
//!   `check_round_trip`);
//! - `deliver_sm`, `data_sm` and `submit_sm` classify without panicking, and what comes out
//!   is usable: text bytes cut from the PDU, receipts with an id and normalised dates.

#![no_main]

use bytes::BytesMut;
use hato_smpp::codec::{CodecError, Frame, MAX_PDU, PduCodec};
use hato_smpp::inbound::{Inbound, classify};
use hato_smpp::long_message::decode_text;
use hato_smpp::pdu::MessageView;
use libfuzzer_sys::fuzz_target;
use rusmpp::encode::Length;
use rusmpp::tlvs::Tlv;
use rusmpp::{Command, CommandId, Pdu};
use tokio_util::codec::{Decoder, Encoder};

/// A frame in a comparable form.
// Like `Frame`: nearly every value is the large variant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Command(Command),
    Invalid(u32, u32, u32),
}

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Waiting for more bytes, with this many buffered.
    NeedMore(usize),
    /// A broken `command_length`.
    Length(u32),
}

fn header(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

/// Decodes `stream` delivered in reads of `read` bytes, checking the framing of each step.
fn decode_stream(stream: &[u8], read: usize) -> (Vec<Seen>, End) {
    let mut codec = PduCodec::new();
    let mut buf = BytesMut::new();
    let mut seen = Vec::new();
    // The buffer always holds stream[consumed..received].
    let mut consumed = 0;
    for (index, chunk) in stream.chunks(read).enumerate() {
        buf.extend_from_slice(chunk);
        let received = (index * read + chunk.len()).min(stream.len());
        loop {
            let pending = &stream[consumed..received];
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let length = header(pending, 0) as usize;
                    assert!((16..=MAX_PDU).contains(&length));
                    consumed += length;
                    assert_eq!(
                        &buf[..],
                        &stream[consumed..received],
                        "a frame is its length"
                    );
                    let (id, status, sequence) =
                        (header(pending, 4), header(pending, 8), header(pending, 12));
                    seen.push(match frame {
                        Frame::Command(command) => {
                            assert_eq!(u32::from(command.id()), id);
                            assert_eq!(u32::from(command.status()), status);
                            assert_eq!(command.sequence_number(), sequence);
                            Seen::Command(command)
                        }
                        Frame::Invalid {
                            command_id,
                            command_status,
                            sequence_number,
                            error: _,
                        } => {
                            assert_eq!((command_id, command_status), (id, status));
                            assert_eq!(sequence_number, sequence);
                            Seen::Invalid(command_id, command_status, sequence_number)
                        }
                    });
                }
                Ok(None) => {
                    assert_eq!(buf.len(), pending.len(), "waiting consumes nothing");
                    assert!(pending.len() < 4 || pending.len() < header(pending, 0) as usize);
                    break;
                }
                Err(CodecError::Length(length)) => {
                    assert_eq!(length, header(pending, 0));
                    assert!(!(16..=MAX_PDU).contains(&(length as usize)));
                    return (seen, End::Length(length));
                }
                Err(other) => panic!("decoding failed with {other:?}"),
            }
        }
    }
    assert_eq!(&buf[..], &stream[consumed..]);
    (seen, End::NeedMore(buf.len()))
}

/// The TLVs of a PDU, whichever fields rusmpp keeps them in.
fn tlvs(pdu: &Pdu) -> Vec<&Tlv> {
    match pdu {
        Pdu::BindTransmitterResp(p) => p.sc_interface_version_tlv().into_iter().collect(),
        Pdu::BindReceiverResp(p) => p.sc_interface_version_tlv().into_iter().collect(),
        Pdu::BindTransceiverResp(p) => p.sc_interface_version_tlv().into_iter().collect(),
        Pdu::AlertNotification(p) => p.ms_availability_status_tlv().into_iter().collect(),
        Pdu::ReplaceSm(p) => p.message_payload_tlv().into_iter().collect(),
        Pdu::QueryBroadcastSm(p) => p.user_message_reference_tlv().into_iter().collect(),
        Pdu::SubmitSm(p) => p.tlvs().iter().collect(),
        Pdu::SubmitSmResp(p) => p.tlvs().iter().collect(),
        Pdu::DeliverSm(p) => p.tlvs().iter().collect(),
        Pdu::DeliverSmResp(p) => p.tlvs().iter().collect(),
        Pdu::DataSm(p) => p.tlvs().iter().collect(),
        Pdu::DataSmResp(p) => p.tlvs().iter().collect(),
        Pdu::SubmitMulti(p) => p.tlvs().iter().collect(),
        Pdu::SubmitMultiResp(p) => p.tlvs().iter().collect(),
        Pdu::BroadcastSm(p) => p.tlvs().iter().collect(),
        Pdu::BroadcastSmResp(p) => p.tlvs().iter().collect(),
        Pdu::QueryBroadcastSmResp(p) => p.tlvs().iter().collect(),
        Pdu::CancelBroadcastSm(p) => p.tlvs().iter().collect(),
        _ => Vec::new(),
    }
}

/// The PDUs Hato acts on (the connector as an ESME, the simulator as an SMSC); any other is
/// answered by its `command_id` alone, so only these must read back exactly.
fn hato_reads(id: CommandId) -> bool {
    use CommandId::*;
    matches!(
        id,
        BindTransmitter
            | BindReceiver
            | BindTransceiver
            | BindTransmitterResp
            | BindReceiverResp
            | BindTransceiverResp
            | SubmitSm
            | SubmitSmResp
            | DeliverSm
            | DeliverSmResp
            | DataSm
            | DataSmResp
            | EnquireLink
            | EnquireLinkResp
            | Unbind
            | UnbindResp
            | GenericNack
    )
}

/// Every decoded command encodes, with a right `command_length`. For the PDUs Hato acts on,
/// decoding that gives the command back, and encoding it again gives the same bytes.
///
/// Two exceptions, both rusmpp's way of reading what a peer got wrong; neither matters to
/// Hato, which answers by `command_id` and never sends a received PDU back (and rusmpp reads
/// the PDUs Hato ignores, `alert_notification` for one, no more consistently):
/// - a body-less PDU (`enquire_link`, `generic_nack`, `unbind`, …) with bytes after its
///   header decodes with no PDU (`pdu() == None`, the bytes ignored), encodes as the bare
///   header, and that decodes as the PDU itself: only the header must come back;
/// - a TLV keeps the `value_length` it arrived with even when rusmpp read a value of another
///   length (a C-string value is read up to its NUL, whatever the length said): it encodes
///   with a length its bytes do not fill, which may not decode again. Such a command only
///   has to encode.
fn check_round_trip(command: &Command) {
    let encode = |command: &Command| {
        let mut buf = BytesMut::new();
        PduCodec::new()
            .encode(command.clone(), &mut buf)
            .expect("a decoded command encodes");
        assert_eq!(
            header(&buf, 0) as usize,
            buf.len(),
            "command_length is right"
        );
        buf
    };
    let bytes = encode(command);
    if !hato_reads(command.id()) {
        return;
    }
    if let Some(pdu) = command.pdu()
        && tlvs(pdu)
            .iter()
            .any(|tlv| tlv.value().map_or(0, Length::length) != usize::from(tlv.value_length()))
    {
        return;
    }
    let mut buf = bytes.clone();
    let again = match PduCodec::new().decode(&mut buf) {
        Ok(Some(Frame::Command(again))) => again,
        other => panic!("re-encoded {command:?} decodes as {other:?}"),
    };
    assert!(buf.is_empty());
    if command.pdu().is_some() {
        assert_eq!(&again, command, "decode(encode(c)) == c");
    } else {
        assert_eq!(bytes.len(), 16, "no PDU encodes as the header alone");
        assert_eq!(
            (again.id(), again.status(), again.sequence_number()),
            (command.id(), command.status(), command.sequence_number())
        );
    }
    assert_eq!(
        encode(&again),
        bytes,
        "encode(decode(encode(c))) == encode(c)"
    );
}

/// What Hato reads out of a message PDU.
fn check_view(view: &MessageView) {
    let (concat, bytes) = view.content();
    let carriers = [Some(view.short_message.as_slice()), view.payload.as_deref()];
    assert!(
        carriers
            .into_iter()
            .flatten()
            .any(|field| field.ends_with(bytes)),
        "the text is the end of short_message or message_payload"
    );
    if let Some(concat) = concat
        && view.sar != Some(concat)
    {
        assert!(
            view.esm_class & hato_smpp::pdu::ESM_UDHI != 0,
            "a UDH needs UDHI"
        );
    }
    let _ = decode_text(view.data_coding, bytes);
    match classify("fuzz", view) {
        Inbound::Receipt(receipt) => {
            assert!(view.is_receipt());
            assert!(!receipt.message_id.trim().is_empty());
            if let Some(code) = &receipt.error_code {
                assert!(!code.is_empty() && !code.bytes().all(|b| b == b'0'));
            }
            for date in [&receipt.submit_date, &receipt.done_date]
                .into_iter()
                .flatten()
            {
                assert!(date.len() == 12 && date.bytes().all(|b| b.is_ascii_digit()));
            }
        }
        Inbound::Unusable(_) => assert!(view.is_receipt()),
        Inbound::Single(message) => {
            assert!(!view.is_receipt());
            assert_eq!(message.parts, 1);
        }
        Inbound::Part(part) => {
            assert!(!view.is_receipt());
            assert!(part.concat.total > 1);
            assert_eq!(part.body, bytes);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (frames, end) = decode_stream(data, data.len().max(1));
    let (bytewise, bytewise_end) = decode_stream(data, 1);
    assert_eq!(
        frames, bytewise,
        "frames do not depend on how reads cut the stream"
    );
    assert_eq!(end, bytewise_end);
    for frame in &frames {
        let Seen::Command(command) = frame else {
            continue;
        };
        check_round_trip(command);
        match command.pdu() {
            Some(Pdu::DeliverSm(pdu)) => check_view(&MessageView::of_deliver_sm(pdu)),
            Some(Pdu::DataSm(pdu)) => check_view(&MessageView::of_data_sm(pdu)),
            Some(Pdu::SubmitSm(pdu)) => check_view(&MessageView::of_submit_sm(pdu)),
            _ => {}
        }
    }
});
