//! `hato preview "本文"`: computed locally with the same code the API uses.

use std::path::Path;

use crate::config::{Config, Overrides};

#[derive(Debug, clap::Args)]
pub struct PreviewArgs {
    /// The text to analyse.
    pub body: String,
    /// Print JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(config_path: Option<&Path>, args: PreviewArgs) -> anyhow::Result<()> {
    let config = Config::load(config_path, Overrides::default())?;
    let preview = hato_api::preview::preview(&args.body, &config.api());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&preview)?);
        return Ok(());
    }
    println!("encoding:  {}", preview.encoding.as_str());
    println!(
        "segments:  {} (limit {})",
        preview.segments, preview.max_segments
    );
    println!(
        "characters: {} ({} units, {} per segment)",
        preview.characters, preview.units, preview.units_per_segment
    );
    println!(
        "last segment: {} used, {} left",
        preview.units_in_last_segment, preview.units_left_in_last_segment
    );
    if !preview.forcing_ucs2.is_empty() {
        let list: Vec<String> = preview
            .forcing_ucs2
            .iter()
            .take(20)
            .map(|f| match &f.replacement {
                Some(r) => format!("{:?} at {} (→ {r:?})", f.character, f.position),
                None => format!("{:?} at {}", f.character, f.position),
            })
            .collect();
        println!(
            "UCS-2 because of: {}{}",
            list.join(", "),
            if preview.forcing_ucs2.len() > 20 {
                ", …"
            } else {
                ""
            }
        );
    }
    if let Some(alternative) = &preview.gsm7_alternative {
        println!(
            "as GSM-7 with look-alikes: {} segment(s): {}",
            alternative.segments, alternative.body
        );
    }
    if let Some(price) = &preview.price {
        println!(
            "price: {:.2} {} ({} per segment)",
            price.total, price.currency, price.per_segment
        );
    }
    if !preview.within_limit {
        anyhow::bail!(
            "the text needs {} segments; the limit is {}",
            preview.segments,
            preview.max_segments
        );
    }
    Ok(())
}
