//! Phone numbers and sender ids: parsing never panics, E.164 output is stable.

use hato_core::{PhoneNumber, Sender};
use proptest::prelude::*;

proptest! {
    #[test]
    fn japanese_mobiles_in_any_layout(
        prefix in prop::sample::select(vec!["70", "80", "90"]),
        // The metadata allocates 0[789]0 then 1-9 (`[7-9]0[1-9]\d{7}`): 090-0xxx is not a number.
        rest in "[1-9][0-9]{7}",
        layout in 0..4usize,
    ) {
        let national = match layout {
            0 => format!("0{prefix}{rest}"),
            1 => format!("0{prefix}-{}-{}", &rest[..4], &rest[4..]),
            2 => format!("+81 {prefix} {} {}", &rest[..4], &rest[4..]),
            _ => format!("(0{prefix}) {} {}", &rest[..4], &rest[4..]),
        };
        let number = PhoneNumber::parse(&national, "JP").unwrap();
        prop_assert_eq!(number.as_str(), format!("+81{prefix}{rest}"));
        // E.164 parses to itself whatever the default region, and through serde.
        prop_assert_eq!(&PhoneNumber::parse(number.as_str(), "US").unwrap(), &number);
        let json = serde_json::to_string(&number).unwrap();
        prop_assert_eq!(serde_json::from_str::<PhoneNumber>(&json).unwrap(), number);
    }

    #[test]
    fn parse_never_panics_and_outputs_e164(input in any::<String>(), region in "[A-Z]{2}") {
        if let Ok(number) = PhoneNumber::parse(&input, &region) {
            prop_assert!(number.as_str().starts_with('+'));
            prop_assert!(number.digits().bytes().all(|b| b.is_ascii_digit()));
            prop_assert!(number.digits().len() <= 15);
        }
        let _ = serde_json::from_value::<PhoneNumber>(serde_json::Value::String(input));
    }

    #[test]
    fn digit_strings_parse_or_fail_cleanly(input in "\\+?[0-9 ()-]{0,20}") {
        let _ = PhoneNumber::parse(&input, "JP");
    }

    #[test]
    fn sender_parse_never_panics_and_keeps_its_rules(input in any::<String>()) {
        match Sender::parse(&input, "JP") {
            Ok(Sender::Alphanumeric(id)) => {
                prop_assert!((1..=11).contains(&id.len()));
                prop_assert!(id.bytes().any(|b| b.is_ascii_alphabetic()));
                prop_assert!(hato_core::text::is_gsm7(&id));
            }
            Ok(Sender::ShortCode(code)) => {
                prop_assert!((3..=8).contains(&code.len()));
                prop_assert!(code.bytes().all(|b| b.is_ascii_digit()));
            }
            Ok(Sender::Number(number)) => prop_assert!(number.as_str().starts_with('+')),
            Err(error) => {
                let message = error.to_string();
                prop_assert!(!message.ends_with('.'));
                prop_assert!(message.chars().next().is_some_and(|c| !c.is_uppercase()));
            }
        }
    }

    #[test]
    fn alphanumeric_ids(id in "[A-Za-z][A-Za-z0-9 &._+-]{0,9}[A-Za-z0-9]") {
        let sender = Sender::parse(&id, "JP").unwrap();
        prop_assert_eq!(sender.kind_str(), "alphanumeric");
        prop_assert_eq!(sender.as_str(), id.as_str());
    }
}
