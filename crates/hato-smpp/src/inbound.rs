//! What a `deliver_sm` or `data_sm` is: a delivery receipt, a whole MO message, or one part of
//! a longer one.

use crate::address::inbound_address;
use crate::event::InboundSms;
use crate::long_message::decode_text;
use crate::pdu::MessageView;
use crate::reassembly::Part;
use crate::receipt::{DeliveryReceipt, ReceiptState, normalise_receipt_date, parse_receipt_text};

/// The meaning of one `deliver_sm` or `data_sm`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A delivery receipt.
    Receipt(DeliveryReceipt),
    /// A complete MO message in one PDU.
    Single(InboundSms),
    /// One part of a multipart MO message.
    Part(Part),
    /// Marked as a receipt but without any message id: nothing can be done with it.
    Unusable(String),
}

/// Classifies a `deliver_sm` or `data_sm` received on `connector`.
pub fn classify(connector: &str, view: &MessageView) -> Inbound {
    let (concat, bytes) = view.content();
    if view.is_receipt() {
        return receipt(connector, view, bytes);
    }
    let from = inbound_address(view.source_ton, &view.source);
    let to = inbound_address(view.destination_ton, &view.destination);
    match concat {
        Some(concat) if concat.total > 1 => Inbound::Part(Part {
            from,
            to,
            data_coding: view.data_coding,
            body: bytes.to_vec(),
            concat,
        }),
        _ => Inbound::Single(InboundSms {
            connector: connector.to_owned(),
            from,
            to,
            body: decode_text(view.data_coding, bytes),
            parts: 1,
        }),
    }
}

fn receipt(connector: &str, view: &MessageView, bytes: &[u8]) -> Inbound {
    let text = decode_text(view.data_coding, bytes);
    let fields = parse_receipt_text(&text).unwrap_or_default();
    let Some(message_id) = view
        .receipted_message_id
        .clone()
        .or(fields.id.clone())
        .filter(|id| !id.trim().is_empty())
    else {
        return Inbound::Unusable(format!("receipt without a message id: {text:?}"));
    };
    let state = match (view.message_state, fields.stat.as_deref()) {
        (Some(state), _) => ReceiptState::from_message_state(state),
        (None, Some(stat)) => ReceiptState::from_stat(stat),
        (None, None) => ReceiptState::Unknown,
    };
    // Code 0 (`err:000`, or a `network_error_code` TLV with code 0) is how SMSCs say "no
    // error": storing it would show a delivered message with an error code.
    let error_code = match view.network_error {
        Some((network, code)) => (code != 0).then(|| format!("{network}:{code}")),
        None => fields
            .err
            .clone()
            .filter(|e| !e.is_empty() && !e.bytes().all(|b| b == b'0')),
    };
    Inbound::Receipt(DeliveryReceipt {
        connector: connector.to_owned(),
        message_id,
        state,
        error_code,
        submit_date: fields
            .submit_date
            .as_deref()
            .and_then(normalise_receipt_date),
        done_date: fields.done_date.as_deref().and_then(normalise_receipt_date),
        recipient: inbound_address(view.source_ton, &view.source),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::long_message::{Concat, ConcatScheme};

    fn view(text: &str, esm: u8) -> MessageView {
        MessageView {
            source_ton: 1,
            source: "819011112222".into(),
            destination_ton: 5,
            destination: "Hato".into(),
            esm_class: esm,
            short_message: text.as_bytes().to_vec(),
            ..MessageView::default()
        }
    }

    #[test]
    fn receipt_from_text() {
        let v = view(
            "id:0A1B sub:001 dlvrd:001 submit date:2401021530 done date:2401021531 stat:UNDELIV err:034 text:hi",
            0x04,
        );
        match classify("c", &v) {
            Inbound::Receipt(r) => {
                assert_eq!(r.message_id, "0A1B");
                assert_eq!(r.state, ReceiptState::Undelivered);
                assert_eq!(r.error_code.as_deref(), Some("034"));
                assert_eq!(r.submit_date.as_deref(), Some("240102153000"));
                assert_eq!(r.recipient, "+819011112222");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_zero_error_code_is_no_error() {
        let delivered = view(
            "id:0A1B sub:001 dlvrd:001 submit date:2401021530 done date:2401021531 stat:DELIVRD err:000 text:hi",
            0x04,
        );
        match classify("c", &delivered) {
            Inbound::Receipt(r) => {
                assert_eq!(r.state, ReceiptState::Delivered);
                assert_eq!(r.error_code, None);
            }
            other => panic!("{other:?}"),
        }
        let mut tlv = view("id:1 stat:DELIVRD err:034", 0x04);
        tlv.network_error = Some((3, 0));
        match classify("c", &tlv) {
            Inbound::Receipt(r) => assert_eq!(r.error_code, None, "the TLV wins, and says none"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tlvs_win_over_text() {
        let mut v = view("id:1 stat:DELIVRD", 0x04);
        v.receipted_message_id = Some("ff".into());
        v.message_state = Some(3);
        v.network_error = Some((3, 27));
        match classify("c", &v) {
            Inbound::Receipt(r) => {
                assert_eq!(r.message_id, "ff");
                assert_eq!(r.state, ReceiptState::Expired);
                assert_eq!(r.error_code.as_deref(), Some("3:27"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            classify("c", &view("stat:DELIVRD", 0x04)),
            Inbound::Unusable(_)
        ));
    }

    #[test]
    fn mo_single_and_part() {
        match classify("c", &view("Hello", 0)) {
            Inbound::Single(m) => {
                assert_eq!(
                    (m.from.as_str(), m.to.as_str(), m.body.as_str()),
                    ("+819011112222", "Hato", "Hello")
                );
            }
            other => panic!("{other:?}"),
        }
        let mut v = view("", 0x40);
        v.short_message = vec![5, 0, 3, 1, 2, 2, b'a'];
        match classify("c", &v) {
            Inbound::Part(p) => assert_eq!(
                p.concat,
                Concat {
                    reference: 1,
                    total: 2,
                    seq: 2,
                    scheme: ConcatScheme::Udh8
                }
            ),
            other => panic!("{other:?}"),
        }
    }
}
