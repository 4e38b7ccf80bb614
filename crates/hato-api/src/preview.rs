//! What a body will cost before it is sent: encoding, segments, the characters that forced
//! UCS-2 (with GSM-7 look-alikes where they exist), and the price.

use hato_core::text::{self, Encoding};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::state::ApiSettings;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    #[schema(example = "ご予約ありがとうございます")]
    pub body: String,
}

/// A character that forced UCS-2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ForcingCharacterOut {
    pub character: String,
    /// Position in the body, counted in characters from 0.
    pub position: usize,
    /// A GSM-7 look-alike, where one exists (`"` for `“`).
    pub replacement: Option<String>,
}

/// The same text with every look-alike substituted, when that makes it GSM-7.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Gsm7Alternative {
    pub body: String,
    pub segments: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PriceEstimate {
    pub per_segment: f64,
    pub total: f64,
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PreviewResponse {
    pub encoding: Encoding,
    pub segments: usize,
    /// Characters in the body.
    pub characters: usize,
    /// Septets (GSM-7, an extension character counts two) or UTF-16 units (UCS-2).
    pub units: usize,
    /// Units one segment holds: 160/70 alone, 153/67 when concatenated.
    pub units_per_segment: usize,
    pub units_in_last_segment: usize,
    pub units_left_in_last_segment: usize,
    pub max_segments: usize,
    /// Whether the body fits in `max_segments`.
    pub within_limit: bool,
    /// Every character that made the body UCS-2.
    pub forcing_ucs2: Vec<ForcingCharacterOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gsm7_alternative: Option<Gsm7Alternative>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<PriceEstimate>,
}

pub fn preview(body: &str, settings: &ApiSettings) -> PreviewResponse {
    let analysis = text::analyze(body);
    let forcing: Vec<ForcingCharacterOut> = analysis
        .forcing_ucs2
        .iter()
        .map(|f| ForcingCharacterOut {
            character: f.character.to_string(),
            position: f.position,
            replacement: f.replacement.map(str::to_owned),
        })
        .collect();
    let gsm7_alternative = (!forcing.is_empty() && forcing.iter().all(|f| f.replacement.is_some()))
        .then(|| {
            let replaced = text::apply_replacements(body).into_owned();
            let segments = text::analyze(&replaced).segments;
            Gsm7Alternative {
                body: replaced,
                segments,
            }
        });
    let price = settings.price.as_ref().map(|price| PriceEstimate {
        per_segment: price.per_segment,
        total: price.per_segment * analysis.segments as f64,
        currency: price.currency.clone(),
    });
    PreviewResponse {
        encoding: analysis.encoding,
        segments: analysis.segments,
        characters: analysis.characters,
        units: analysis.units,
        units_per_segment: analysis.units_per_segment,
        units_in_last_segment: analysis.units_in_last_segment,
        units_left_in_last_segment: analysis.units_left_in_last_segment,
        max_segments: settings.max_segments,
        within_limit: analysis.segments <= settings.max_segments,
        forcing_ucs2: forcing,
        gsm7_alternative,
        price,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smart_quotes_have_a_gsm7_way_out() {
        let result = preview("It’s “great”", &ApiSettings::default());
        assert_eq!(result.encoding, Encoding::Ucs2);
        assert_eq!(result.forcing_ucs2.len(), 3);
        assert_eq!(result.forcing_ucs2[0].position, 2);
        let alternative = result.gsm7_alternative.unwrap();
        assert_eq!(alternative.body, "It's \"great\"");
        assert_eq!(alternative.segments, 1);
    }

    #[test]
    fn prices_per_segment() {
        let settings = ApiSettings {
            price: Some(crate::state::Price {
                per_segment: 3.3,
                currency: "JPY".into(),
            }),
            ..ApiSettings::default()
        };
        let result = preview(&"あ".repeat(71), &settings);
        assert_eq!(result.segments, 2);
        let price = result.price.unwrap();
        assert!((price.total - 6.6).abs() < 1e-9);
    }
}
