//! Building and reading the message PDUs (`submit_sm`, `deliver_sm`, `data_sm`) with rusmpp
//! types.
//!
//! Every field is set explicitly: rusmpp's `EsmClass::default()` encodes as 0x08, not 0x00.
//!
//! `data_sm` (SMPP 3.4 §4.7) has no `short_message`: its text travels in the
//! `message_payload` TLV, and an SMSC may use it, instead of `deliver_sm`, for MO messages and
//! for delivery receipts (`receipted_message_id`, `message_state`, `network_error_code`).

use rusmpp::encode::{Encode, Length};
use rusmpp::pdus::{DataSm, DeliverSm, SubmitSm};
use rusmpp::tlvs::{
    MessageDeliveryRequestTlvValue, MessageSubmissionRequestTlvValue, Tlv, TlvValue,
};
use rusmpp::types::{AnyOctetString, COctetString, EmptyOrFullCOctetString, OctetString};
use rusmpp::values::{
    DataCoding, ErrorCodeNetworkType, EsmClass, MessagePayload, MessageState, NetworkErrorCode,
    Npi, PriorityFlag, RegisteredDelivery, ReplaceIfPresentFlag, ServiceType, Ton,
};

use crate::address::Address;
use crate::long_message::{Concat, ConcatScheme, EncodedPart};

/// esm_class bit: the short message starts with a user data header.
pub const ESM_UDHI: u8 = 0x40;
/// esm_class message type: SMSC delivery receipt.
pub const ESM_DELIVERY_RECEIPT: u8 = 0x04;
/// esm_class message type: intermediate delivery notification.
pub const ESM_INTERMEDIATE: u8 = 0x20;

/// Why a PDU could not be built from our values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A field does not fit its SMPP type.
    #[error("{field} cannot be sent: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

fn c_string<const MIN: usize, const MAX: usize>(
    field: &'static str,
    value: &str,
) -> Result<COctetString<MIN, MAX>, BuildError> {
    COctetString::from_string(value.to_owned()).map_err(|e| BuildError::Field {
        field,
        reason: format!("{e:?}"),
    })
}

fn short_message(bytes: &[u8]) -> Result<OctetString<0, 255>, BuildError> {
    OctetString::from_slice(bytes).map_err(|e| BuildError::Field {
        field: "short_message",
        reason: format!("{e:?}"),
    })
}

/// The `service_type` field.
pub fn service_type(value: &str) -> Result<ServiceType, BuildError> {
    Ok(ServiceType::new(c_string("service_type", value)?))
}

/// A relative `validity_period` (SMPP 3.4 §7.1.1: `YYMMDDhhmmss000R`), capped at 99 days.
pub fn relative_validity(validity: std::time::Duration) -> String {
    let secs = validity.as_secs().min(99 * 86_400 + 86_399);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    format!(
        "0000{:02}{:02}{:02}{:02}000R",
        days,
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A `submit_sm` for one encoded part; `validity` is a `validity_period` string (absolute or
/// relative, 16 characters) or `None` for the SMSC default.
pub fn submit_sm(
    service: &ServiceType,
    source: &Address,
    destination: &Address,
    part: &EncodedPart,
    registered_delivery: bool,
    validity: Option<&str>,
) -> Result<SubmitSm, BuildError> {
    let validity_period = match validity {
        None => EmptyOrFullCOctetString::empty(),
        Some(v) => {
            EmptyOrFullCOctetString::from_string(v.to_owned()).map_err(|e| BuildError::Field {
                field: "validity_period",
                reason: format!("{e:?}"),
            })?
        }
    };
    let esm = if part.udhi { ESM_UDHI } else { 0x00 };
    let mut pdu = SubmitSm::builder()
        .service_type(service.clone())
        .source_addr_ton(Ton::from(source.ton))
        .source_addr_npi(Npi::from(source.npi))
        .source_addr(c_string("source_addr", &source.value)?)
        .dest_addr_ton(Ton::from(destination.ton))
        .dest_addr_npi(Npi::from(destination.npi))
        .destination_addr(c_string("destination_addr", &destination.value)?)
        .esm_class(EsmClass::from(esm))
        .protocol_id(0)
        .priority_flag(PriorityFlag::from(0))
        .schedule_delivery_time(EmptyOrFullCOctetString::empty())
        .validity_period(validity_period)
        .registered_delivery(RegisteredDelivery::from(u8::from(registered_delivery)))
        .replace_if_present_flag(ReplaceIfPresentFlag::from(0))
        .data_coding(DataCoding::from(part.data_coding))
        .sm_default_msg_id(0)
        .short_message(short_message(&part.short_message)?)
        .build();
    if let Some(sar) = part.sar {
        pdu.push_tlv(MessageSubmissionRequestTlvValue::SarMsgRefNum(
            sar.reference,
        ));
        pdu.push_tlv(MessageSubmissionRequestTlvValue::SarTotalSegments(
            sar.total,
        ));
        pdu.push_tlv(MessageSubmissionRequestTlvValue::SarSegmentSeqnum(sar.seq));
    }
    if let Some(payload) = &part.payload {
        pdu.push_tlv(MessageSubmissionRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_slice(payload)),
        ));
    }
    Ok(pdu)
}

/// What a receipt `deliver_sm` carries in TLVs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptTlvs {
    /// `receipted_message_id`.
    pub message_id: String,
    /// `message_state`.
    pub message_state: u8,
    /// `network_error_code` (network type, code).
    pub network_error: Option<(u8, u16)>,
}

/// A `deliver_sm` (MO part or receipt).
pub fn deliver_sm(
    source: &Address,
    destination: &Address,
    esm_class: u8,
    part: &EncodedPart,
    receipt: Option<&ReceiptTlvs>,
) -> Result<DeliverSm, BuildError> {
    let mut pdu = DeliverSm::builder()
        .service_type(ServiceType::default())
        .source_addr_ton(Ton::from(source.ton))
        .source_addr_npi(Npi::from(source.npi))
        .source_addr(c_string("source_addr", &source.value)?)
        .dest_addr_ton(Ton::from(destination.ton))
        .dest_addr_npi(Npi::from(destination.npi))
        .destination_addr(c_string("destination_addr", &destination.value)?)
        .esm_class(EsmClass::from(
            esm_class | if part.udhi { ESM_UDHI } else { 0 },
        ))
        .protocol_id(0)
        .priority_flag(PriorityFlag::from(0))
        .schedule_delivery_time(EmptyOrFullCOctetString::empty())
        .validity_period(EmptyOrFullCOctetString::empty())
        .registered_delivery(RegisteredDelivery::from(0))
        .replace_if_present_flag(ReplaceIfPresentFlag::from(0))
        .data_coding(DataCoding::from(part.data_coding))
        .sm_default_msg_id(0)
        .short_message(short_message(&part.short_message)?)
        .build();
    if let Some(sar) = part.sar {
        pdu.push_tlv(MessageDeliveryRequestTlvValue::SarMsgRefNum(sar.reference));
        pdu.push_tlv(MessageDeliveryRequestTlvValue::SarTotalSegments(sar.total));
        pdu.push_tlv(MessageDeliveryRequestTlvValue::SarSegmentSeqnum(sar.seq));
    }
    if let Some(payload) = &part.payload {
        pdu.push_tlv(MessageDeliveryRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_slice(payload)),
        ));
    }
    if let Some(receipt) = receipt {
        pdu.push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(
            c_string("receipted_message_id", &receipt.message_id)?,
        ));
        pdu.push_tlv(MessageDeliveryRequestTlvValue::MessageState(
            MessageState::from(receipt.message_state),
        ));
        if let Some((network_type, code)) = receipt.network_error {
            pdu.push_tlv(MessageDeliveryRequestTlvValue::NetworkErrorCode(
                NetworkErrorCode::new(ErrorCodeNetworkType::from(network_type), code),
            ));
        }
    }
    Ok(pdu)
}

/// A `data_sm` (MO message or receipt, as an SMSC may send them): the part's text goes in
/// `message_payload` (behind its UDH when it has one), the receipt facts in TLVs.
pub fn data_sm(
    source: &Address,
    destination: &Address,
    esm_class: u8,
    part: &EncodedPart,
    receipt: Option<&ReceiptTlvs>,
) -> Result<DataSm, BuildError> {
    let mut pdu = DataSm::builder()
        .service_type(ServiceType::default())
        .source_addr_ton(Ton::from(source.ton))
        .source_addr_npi(Npi::from(source.npi))
        .source_addr(c_string("source_addr", &source.value)?)
        .dest_addr_ton(Ton::from(destination.ton))
        .dest_addr_npi(Npi::from(destination.npi))
        .destination_addr(c_string("destination_addr", &destination.value)?)
        .esm_class(EsmClass::from(
            esm_class | if part.udhi { ESM_UDHI } else { 0 },
        ))
        .registered_delivery(RegisteredDelivery::from(0))
        .data_coding(DataCoding::from(part.data_coding))
        .build();
    if let Some(sar) = part.sar {
        pdu.push_tlv(MessageSubmissionRequestTlvValue::SarMsgRefNum(
            sar.reference,
        ));
        pdu.push_tlv(MessageSubmissionRequestTlvValue::SarTotalSegments(
            sar.total,
        ));
        pdu.push_tlv(MessageSubmissionRequestTlvValue::SarSegmentSeqnum(sar.seq));
    }
    let user_data = part.payload.as_deref().unwrap_or(&part.short_message);
    if !user_data.is_empty() {
        pdu.push_tlv(MessageSubmissionRequestTlvValue::MessagePayload(
            MessagePayload::new(AnyOctetString::from_slice(user_data)),
        ));
    }
    if let Some(receipt) = receipt {
        pdu.push_tlv(untyped_tlv(TlvValue::ReceiptedMessageId(c_string(
            "receipted_message_id",
            &receipt.message_id,
        )?)));
        pdu.push_tlv(untyped_tlv(TlvValue::MessageState(MessageState::from(
            receipt.message_state,
        ))));
        if let Some((network_type, code)) = receipt.network_error {
            pdu.push_tlv(untyped_tlv(TlvValue::NetworkErrorCode(
                NetworkErrorCode::new(ErrorCodeNetworkType::from(network_type), code),
            )));
        }
    }
    Ok(pdu)
}

/// A TLV that rusmpp's typed list for `data_sm` does not name (it types `data_sm` as a
/// submission), encoded as the same tag and bytes: the receiver decodes it by its tag.
fn untyped_tlv(value: TlvValue) -> MessageSubmissionRequestTlvValue {
    let mut bytes = vec![0; value.length()];
    let written = value.encode(&mut bytes);
    bytes.truncate(written);
    MessageSubmissionRequestTlvValue::Other {
        tag: value.tag(),
        value: AnyOctetString::from_vec(bytes),
    }
}

/// The parts of a `submit_sm`, `deliver_sm` or `data_sm` that matter to Hato, independent of
/// the PDU type.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageView {
    /// Source TON.
    pub source_ton: u8,
    /// Source NPI.
    pub source_npi: u8,
    /// Source address.
    pub source: String,
    /// Destination TON.
    pub destination_ton: u8,
    /// Destination NPI.
    pub destination_npi: u8,
    /// Destination address.
    pub destination: String,
    /// esm_class as a byte.
    pub esm_class: u8,
    /// registered_delivery as a byte.
    pub registered_delivery: u8,
    /// data_coding as a byte.
    pub data_coding: u8,
    /// short_message bytes.
    pub short_message: Vec<u8>,
    /// `message_payload` TLV bytes.
    pub payload: Option<Vec<u8>>,
    /// `sar_*` TLVs, when all three are present.
    pub sar: Option<Concat>,
    /// `receipted_message_id` TLV.
    pub receipted_message_id: Option<String>,
    /// `message_state` TLV.
    pub message_state: Option<u8>,
    /// `network_error_code` TLV.
    pub network_error: Option<(u8, u16)>,
}

impl MessageView {
    fn read_tlvs(&mut self, tlvs: &[Tlv]) {
        let (mut reference, mut total, mut seq) = (None, None, None);
        for value in tlvs.iter().filter_map(Tlv::value) {
            match value {
                TlvValue::MessagePayload(payload) => {
                    self.payload = Some(payload.value.as_ref().to_vec());
                }
                TlvValue::SarMsgRefNum(r) => reference = Some(*r),
                TlvValue::SarTotalSegments(t) => total = Some(*t),
                TlvValue::SarSegmentSeqnum(s) => seq = Some(*s),
                TlvValue::ReceiptedMessageId(id) => {
                    self.receipted_message_id = Some(id.as_str().to_owned());
                }
                TlvValue::MessageState(state) => self.message_state = Some(u8::from(*state)),
                TlvValue::NetworkErrorCode(code) => {
                    self.network_error = Some((u8::from(code.network_type), code.error_code));
                }
                _ => {}
            }
        }
        if let (Some(reference), Some(total), Some(seq)) = (reference, total, seq) {
            self.sar = Some(Concat {
                reference,
                total,
                seq,
                scheme: ConcatScheme::Sar,
            });
        }
    }

    /// The view of a `deliver_sm`.
    pub fn of_deliver_sm(pdu: &DeliverSm) -> Self {
        let mut view = Self {
            source_ton: u8::from(pdu.source_addr_ton),
            source_npi: u8::from(pdu.source_addr_npi),
            source: pdu.source_addr.as_str().to_owned(),
            destination_ton: u8::from(pdu.dest_addr_ton),
            destination_npi: u8::from(pdu.dest_addr_npi),
            destination: pdu.destination_addr.as_str().to_owned(),
            esm_class: u8::from(pdu.esm_class),
            registered_delivery: u8::from(pdu.registered_delivery),
            data_coding: u8::from(pdu.data_coding),
            short_message: pdu.short_message().as_ref().to_vec(),
            ..Self::default()
        };
        view.read_tlvs(pdu.tlvs());
        view
    }

    /// The view of a `data_sm`: no `short_message`, so the text is the `message_payload`.
    pub fn of_data_sm(pdu: &DataSm) -> Self {
        let mut view = Self {
            source_ton: u8::from(pdu.source_addr_ton),
            source_npi: u8::from(pdu.source_addr_npi),
            source: pdu.source_addr.as_str().to_owned(),
            destination_ton: u8::from(pdu.dest_addr_ton),
            destination_npi: u8::from(pdu.dest_addr_npi),
            destination: pdu.destination_addr.as_str().to_owned(),
            esm_class: u8::from(pdu.esm_class),
            registered_delivery: u8::from(pdu.registered_delivery),
            data_coding: u8::from(pdu.data_coding),
            ..Self::default()
        };
        view.read_tlvs(pdu.tlvs());
        view
    }

    /// The view of a `submit_sm`.
    pub fn of_submit_sm(pdu: &SubmitSm) -> Self {
        let mut view = Self {
            source_ton: u8::from(pdu.source_addr_ton),
            source_npi: u8::from(pdu.source_addr_npi),
            source: pdu.source_addr.as_str().to_owned(),
            destination_ton: u8::from(pdu.dest_addr_ton),
            destination_npi: u8::from(pdu.dest_addr_npi),
            destination: pdu.destination_addr.as_str().to_owned(),
            esm_class: u8::from(pdu.esm_class),
            registered_delivery: u8::from(pdu.registered_delivery),
            data_coding: u8::from(pdu.data_coding),
            short_message: pdu.short_message().as_ref().to_vec(),
            ..Self::default()
        };
        view.read_tlvs(pdu.tlvs());
        view
    }

    /// The text bytes (message_payload if present and short_message empty, else
    /// short_message) without their UDH, and the concatenation facts (UDH first, then SAR).
    /// With the UDHI flag the header opens whichever field carries the text: SMSCs put
    /// concatenated parts in message_payload too. A UDH that does not parse leaves the
    /// whole field as text.
    pub fn content(&self) -> (Option<Concat>, &[u8]) {
        let user_data = match &self.payload {
            Some(payload) if self.short_message.is_empty() => payload.as_slice(),
            _ => self.short_message.as_slice(),
        };
        if self.esm_class & ESM_UDHI != 0
            && let Some((concat, body)) = crate::long_message::parse_udh(user_data)
        {
            return (concat.or(self.sar), body);
        }
        (self.sar, user_data)
    }

    /// Whether the esm_class or TLVs mark this as a delivery receipt.
    pub fn is_receipt(&self) -> bool {
        let message_type = self.esm_class & 0x3C;
        message_type == ESM_DELIVERY_RECEIPT
            || message_type == ESM_INTERMEDIATE
            || self.receipted_message_id.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LongMessageMode;
    use crate::long_message::{EncodeOptions, encode_message};

    fn address(ton: u8, value: &str) -> Address {
        Address {
            ton,
            npi: 1,
            value: value.into(),
        }
    }

    #[test]
    fn submit_sm_sets_esm_class_explicitly() {
        let part = EncodedPart {
            short_message: b"hi".to_vec(),
            udhi: false,
            sar: None,
            payload: None,
            data_coding: 0,
        };
        let pdu = submit_sm(
            &service_type("").unwrap(),
            &address(5, "Hato"),
            &address(1, "8190"),
            &part,
            true,
            None,
        )
        .unwrap();
        assert_eq!(u8::from(pdu.esm_class), 0x00);
        assert_eq!(u8::from(pdu.registered_delivery), 1);
        let view = MessageView::of_submit_sm(&pdu);
        assert_eq!(view.content(), (None, &b"hi"[..]));
        assert!(!view.is_receipt());
    }

    #[test]
    fn relative_validity_periods() {
        use std::time::Duration;
        assert_eq!(
            relative_validity(Duration::from_secs(3661)),
            "000000010101000R"
        );
        assert_eq!(
            relative_validity(Duration::from_secs(2 * 86_400 + 30)),
            "000002000030000R"
        );
        assert_eq!(
            relative_validity(Duration::from_secs(10_000 * 86_400)),
            "000099235959000R"
        );
        let part = EncodedPart {
            short_message: b"hi".to_vec(),
            udhi: false,
            sar: None,
            payload: None,
            data_coding: 0,
        };
        let validity = relative_validity(Duration::from_secs(600));
        let pdu = submit_sm(
            &service_type("").unwrap(),
            &address(5, "Hato"),
            &address(1, "8190"),
            &part,
            false,
            Some(&validity),
        )
        .unwrap();
        assert_eq!(pdu.validity_period.as_str(), "000000001000000R");
    }

    #[test]
    fn sar_and_udh_are_read_back() {
        for mode in [
            LongMessageMode::Sar,
            LongMessageMode::Udh8,
            LongMessageMode::Udh16,
        ] {
            let parts = encode_message(
                &"x".repeat(300),
                EncodeOptions {
                    mode,
                    data_coding_gsm7: 0,
                    data_coding_ucs2: 8,
                    reference: 300,
                    units_per_part: None,
                },
            )
            .unwrap();
            let pdu =
                deliver_sm(&address(1, "8190"), &address(3, "123"), 0, &parts[1], None).unwrap();
            let view = MessageView::of_deliver_sm(&pdu);
            let (concat, body) = view.content();
            let concat = concat.unwrap();
            assert_eq!((concat.total, concat.seq), (2, 2));
            let per_part = if mode == LongMessageMode::Udh16 {
                152
            } else {
                153
            };
            assert_eq!(body.len(), 300 - per_part);
        }
    }

    #[test]
    fn a_udh_in_message_payload_is_read() {
        // A part in message_payload behind a UDH (UDHI set, short_message empty), as
        // node-smpp and other SMSCs send it.
        let view = MessageView {
            esm_class: ESM_UDHI,
            payload: Some(vec![0x05, 0x00, 0x03, 0x07, 0x03, 0x02, b'h', b'i']),
            ..MessageView::default()
        };
        let (concat, body) = view.content();
        let concat = concat.unwrap();
        assert_eq!((concat.reference, concat.total, concat.seq), (7, 3, 2));
        assert_eq!(body, b"hi");
        // Without UDHI the payload is all text.
        let view = MessageView {
            esm_class: 0,
            ..view
        };
        assert_eq!(view.content().1.len(), 8);
    }

    #[test]
    fn receipt_tlvs_are_read_back() {
        let part = EncodedPart {
            short_message: b"id:1 stat:DELIVRD".to_vec(),
            udhi: false,
            sar: None,
            payload: None,
            data_coding: 0,
        };
        let tlvs = ReceiptTlvs {
            message_id: "ab".into(),
            message_state: 2,
            network_error: Some((3, 7)),
        };
        let pdu = deliver_sm(
            &address(1, "8190"),
            &address(5, "Hato"),
            ESM_DELIVERY_RECEIPT,
            &part,
            Some(&tlvs),
        )
        .unwrap();
        let view = MessageView::of_deliver_sm(&pdu);
        assert!(view.is_receipt());
        assert_eq!(view.receipted_message_id.as_deref(), Some("ab"));
        assert_eq!(view.message_state, Some(2));
        assert_eq!(view.network_error, Some((3, 7)));
    }

    /// Encodes a `data_sm` and decodes it as a peer would: the receipt TLVs built untyped
    /// come back typed.
    fn through_the_wire(pdu: DataSm) -> MessageView {
        use bytes::BytesMut;
        use rusmpp::{Command, CommandStatus, Pdu};
        use tokio_util::codec::{Decoder, Encoder};

        let mut codec = crate::codec::PduCodec::new();
        let mut buf = BytesMut::new();
        codec
            .encode(Command::new(CommandStatus::EsmeRok, 9, pdu), &mut buf)
            .unwrap();
        match codec.decode(&mut buf).unwrap() {
            Some(crate::codec::Frame::Command(command)) => match command.pdu() {
                Some(Pdu::DataSm(data)) => MessageView::of_data_sm(data),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn data_sm_receipt_round_trips() {
        let part = EncodedPart {
            short_message: b"id:171 stat:UNDELIV err:034".to_vec(),
            udhi: false,
            sar: None,
            payload: None,
            data_coding: 0,
        };
        let tlvs = ReceiptTlvs {
            message_id: "171".into(),
            message_state: 5,
            network_error: Some((3, 34)),
        };
        let pdu = data_sm(
            &address(1, "819012345678"),
            &address(5, "Hato"),
            ESM_DELIVERY_RECEIPT,
            &part,
            Some(&tlvs),
        )
        .unwrap();
        let view = through_the_wire(pdu);
        assert!(view.is_receipt());
        assert_eq!(view.receipted_message_id.as_deref(), Some("171"));
        assert_eq!(view.message_state, Some(5));
        assert_eq!(view.network_error, Some((3, 34)));
        assert_eq!(view.content(), (None, &b"id:171 stat:UNDELIV err:034"[..]));
        assert_eq!(view.source, "819012345678");
    }

    #[test]
    fn data_sm_mo_parts_round_trip() {
        for mode in [
            LongMessageMode::Udh8,
            LongMessageMode::Sar,
            LongMessageMode::Payload,
        ] {
            let parts = encode_message(
                &"y".repeat(200),
                EncodeOptions {
                    mode,
                    data_coding_gsm7: 0,
                    data_coding_ucs2: 8,
                    reference: 12,
                    units_per_part: None,
                },
            )
            .unwrap();
            let last = parts.last().unwrap();
            let pdu = data_sm(&address(1, "8190"), &address(3, "123"), 0, last, None).unwrap();
            let view = through_the_wire(pdu);
            assert!(!view.is_receipt());
            assert!(view.short_message.is_empty());
            let (concat, body) = view.content();
            match mode {
                LongMessageMode::Payload => assert_eq!((concat, body.len()), (None, 200)),
                _ => {
                    let concat = concat.unwrap();
                    assert_eq!((concat.reference, concat.total, concat.seq), (12, 2, 2));
                    assert_eq!(body.len(), 200 - 153, "{mode:?}");
                }
            }
        }
    }
}
