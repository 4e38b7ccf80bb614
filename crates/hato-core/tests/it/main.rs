//! Property tests for hato-core's codecs, segmentation, phone numbers and sender ids.

mod codecs;
mod oracle;
mod phone;
mod segmentation;
mod strategies;
