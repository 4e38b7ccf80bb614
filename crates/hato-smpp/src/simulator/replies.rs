//! Handsets that answer by rule: when a message the simulator received matches a rule (the
//! number it is for, a text it contains), the handset sends the rule's reply back after a
//! delay, as an MO message from that number to the sender. Two-way flows ("Reply 1 to
//! confirm") can then be shown and tested end to end without a script posting each reply.

use std::time::Duration;

/// One rule; the first rule that matches a message answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandsetReply {
    /// Numbers it applies to: those that start with this (`+8190`, with or without the `+`);
    /// empty for every number.
    pub to_prefix: String,
    /// Text the message must contain, compared without regard to case; empty for any text.
    pub contains: String,
    /// What the handset answers.
    pub reply: String,
    /// How long after the message (all its parts) arrived the answer is sent.
    pub delay: Duration,
}

impl HandsetReply {
    fn matches(&self, to: &str, text: &str) -> bool {
        let digits = |number: &str| number.strip_prefix('+').unwrap_or(number).to_owned();
        digits(to).starts_with(&digits(&self.to_prefix))
            && text.to_lowercase().contains(&self.contains.to_lowercase())
    }
}

/// The rule that answers a message for `to` saying `text`, if any.
pub(crate) fn answer<'a>(
    rules: &'a [HandsetReply],
    to: &str,
    text: &str,
) -> Option<&'a HandsetReply> {
    rules.iter().find(|rule| rule.matches(to, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(to_prefix: &str, contains: &str, reply: &str) -> HandsetReply {
        HandsetReply {
            to_prefix: to_prefix.into(),
            contains: contains.into(),
            reply: reply.into(),
            delay: Duration::ZERO,
        }
    }

    #[test]
    fn the_first_matching_rule_answers() {
        let rules = [
            rule("+8190", "reply 1", "1"),
            rule("8180", "", "STOP"),
            rule("", "予約", "はい"),
        ];
        let reply = |to, text| answer(&rules, to, text).map(|r| r.reply.as_str());
        // The number with or without its `+`, the text in any case.
        assert_eq!(reply("+819012345678", "Reply 1 to confirm"), Some("1"));
        assert_eq!(reply("819012345678", "REPLY 1 TO CONFIRM"), Some("1"));
        // The right number, not the text: the next rule.
        assert_eq!(reply("819012345678", "明日のご予約"), Some("はい"));
        assert_eq!(reply("+818012345678", "anything"), Some("STOP"));
        assert_eq!(reply("+14155550100", "Reply 1"), None);
        assert_eq!(answer(&[], "+819012345678", "x"), None);
    }
}
