//! Configuration: embedded defaults, then `hato.toml`, then `HATO_*` environment variables,
//! then command-line flags; validated once at start and read-only afterwards.
//!
//! Nested settings use a double underscore in the environment: `HATO_WEBHOOKS__TIMEOUT=5s`.
//! Durations are human units (`"30s"`, `"5m"`), parsed at load time.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use hato_core::simulation::OutcomeMix;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Top-level settings, the ones `HATO_*` variables may set.
const SETTINGS: &[&str] = &[
    "data_dir",
    "listen",
    "database_url",
    "sqlite_synchronous",
    "default_region",
    "max_segments",
    "api_key_cache",
    "log_format",
    "inbound_account",
    "pricing",
    "dispatch",
    "webhooks",
    "simulator",
    // Arrays of tables, written inline: HATO_CONNECTORS='[{name="a", host="…", …}]'.
    "connectors",
    "routes",
];

/// Everything `hato serve` can be told.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the SQLite database lives (when no `database_url` is given).
    pub data_dir: PathBuf,
    /// Address of the HTTP API.
    pub listen: SocketAddr,
    /// `sqlite://…` or `postgres://…`; empty means SQLite in `data_dir`.
    pub database_url: String,
    /// SQLite only: `full` (a commit survives power loss) or `normal` (it survives the
    /// process being killed, not the machine losing power; commits skip the disk sync).
    pub sqlite_synchronous: String,
    /// Region for numbers written without a country code.
    pub default_region: String,
    /// Longest message in segments.
    pub max_segments: usize,
    /// How long a found API key is trusted without a database lookup; a revoked key stops
    /// working within this time. `0s` looks every request's key up.
    pub api_key_cache: HumanDuration,
    /// `text` or `json`.
    pub log_format: String,
    /// The account that owns messages received from handsets (created if missing).
    pub inbound_account: String,
    pub pricing: Option<PricingConfig>,
    pub dispatch: DispatchConfig,
    pub webhooks: WebhooksConfig,
    pub simulator: SimulatorSettings,
    /// Real SMSC connections. When empty, the built-in simulator is the carrier.
    pub connectors: Vec<ConnectorSettings>,
    /// Rules choosing connectors; without any, every connector is tried in order.
    pub routes: Vec<RouteSettings>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricingConfig {
    pub per_segment: f64,
    pub currency: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    pub batch: usize,
    pub in_flight: usize,
    pub gather: HumanDuration,
    pub lease: HumanDuration,
    /// Hand due messages to the dispatcher as they are stored (claimed in the same
    /// transaction) while the queue has nothing due.
    pub direct: bool,
    pub retry_schedule: Vec<HumanDuration>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    pub retry_schedule: Vec<HumanDuration>,
    pub jitter: f64,
    pub timeout: HumanDuration,
    pub concurrency: usize,
}

/// The built-in carrier used when no `[[connectors]]` are configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorSettings {
    /// `smpp`: an embedded SMSC simulator on loopback, bound over real SMPP;
    /// `inline`: an in-process carrier with no protocol at all (for measuring the core alone).
    pub transport: String,
    /// Delay before each delivery report.
    pub report_delay: HumanDuration,
    /// Relative weights of the outcomes.
    pub outcomes: OutcomeMix,
    /// Handsets that answer what they are sent (`[[simulator.replies]]`); the first rule that
    /// matches a message answers it.
    pub replies: Vec<ReplySettings>,
}

/// A simulated handset's answer (`[[simulator.replies]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplySettings {
    /// Numbers it applies to: those starting with this (`+8190`); empty or absent for all.
    #[serde(default)]
    pub to_prefix: String,
    /// Text the message must contain, in any case; empty or absent for any text.
    #[serde(default)]
    pub contains: String,
    /// What the handset answers.
    pub reply: String,
    /// How long after the message it answers (default 1s).
    #[serde(default = "default_reply_delay")]
    pub delay: HumanDuration,
}

fn default_reply_delay() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

impl ReplySettings {
    /// The simulator's rule.
    pub fn rule(&self) -> hato_smpp::simulator::HandsetReply {
        hato_smpp::simulator::HandsetReply {
            to_prefix: self.to_prefix.clone(),
            contains: self.contains.clone(),
            reply: self.reply.clone(),
            delay: self.delay.0,
        }
    }
}

/// One SMSC connection (`[[connectors]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSettings {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub system_id: String,
    pub password: String,
    #[serde(default)]
    pub system_type: String,
    /// `transceiver` (default) or `transmitter_receiver`.
    #[serde(default)]
    pub bind_mode: Option<String>,
    #[serde(default)]
    pub binds: Option<usize>,
    #[serde(default)]
    pub window: Option<usize>,
    /// Messages per second, across all binds.
    #[serde(default)]
    pub throughput: Option<u32>,
    /// `udh` (default), `udh16`, `sar` or `payload`.
    #[serde(default)]
    pub long_messages: Option<String>,
    #[serde(default)]
    pub data_coding_gsm7: Option<u8>,
    #[serde(default)]
    pub data_coding_ucs2: Option<u8>,
    #[serde(default)]
    pub enquire_link_interval: Option<HumanDuration>,
    #[serde(default)]
    pub response_timeout: Option<HumanDuration>,
    /// First wait before reconnecting a dropped bind; it doubles up to `reconnect_max`.
    #[serde(default)]
    pub reconnect_min: Option<HumanDuration>,
    #[serde(default)]
    pub reconnect_max: Option<HumanDuration>,
    /// Sender used for messages without `from`.
    #[serde(default)]
    pub default_sender: Option<String>,
}

/// One routing rule (`[[routes]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSettings {
    #[serde(default)]
    pub prefixes: Vec<String>,
    #[serde(default)]
    pub kinds: Vec<hato_core::MessageKind>,
    #[serde(default)]
    pub senders: Vec<String>,
    pub connectors: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./hato-data"),
            listen: "127.0.0.1:8080".parse().expect("valid default address"),
            database_url: String::new(),
            sqlite_synchronous: "full".into(),
            default_region: "JP".into(),
            max_segments: hato_core::text::DEFAULT_MAX_SEGMENTS,
            api_key_cache: HumanDuration(std::time::Duration::from_secs(1)),
            log_format: "text".into(),
            inbound_account: "default".into(),
            pricing: None,
            dispatch: DispatchConfig::default(),
            webhooks: WebhooksConfig::default(),
            simulator: SimulatorSettings::default(),
            connectors: Vec::new(),
            routes: Vec::new(),
        }
    }
}

impl Default for DispatchConfig {
    fn default() -> Self {
        let engine = hato_engine::EngineConfig::default();
        Self {
            batch: engine.dispatch_batch,
            in_flight: engine.dispatch_in_flight,
            gather: HumanDuration(engine.gather),
            lease: HumanDuration(engine.lease),
            direct: engine.direct_dispatch,
            retry_schedule: engine
                .retry_schedule
                .into_iter()
                .map(HumanDuration)
                .collect(),
        }
    }
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        let webhooks = hato_engine::WebhookConfig::default();
        Self {
            retry_schedule: webhooks
                .retry_schedule
                .into_iter()
                .map(HumanDuration)
                .collect(),
            jitter: webhooks.jitter,
            timeout: HumanDuration(webhooks.timeout),
            concurrency: webhooks.concurrency,
        }
    }
}

impl Default for SimulatorSettings {
    fn default() -> Self {
        Self {
            transport: "smpp".into(),
            report_delay: HumanDuration(Duration::from_millis(100)),
            outcomes: OutcomeMix::default(),
            replies: Vec::new(),
        }
    }
}

/// Overrides from the command line, applied last.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    /// `smpp://SYSTEM_ID:PASSWORD@HOST:PORT`, each replacing the simulator with a real SMSC.
    pub smsc: Vec<String>,
}

impl Config {
    /// Loads defaults, then the TOML file (`path`, or `hato.toml` if it exists), then `HATO_*`.
    pub fn load(path: Option<&Path>, overrides: Overrides) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(path) => {
                if !path.exists() {
                    bail!("config file {} does not exist", path.display());
                }
                figment = figment.merge(Toml::file(path));
            }
            None => figment = figment.merge(Toml::file("hato.toml")),
        }
        // Only keys that name a setting: HATO_API_KEY, HATO_URL and test variables are not config.
        // Keys reach the filter as written (upper case); figment lowercases them afterwards.
        let env = Env::prefixed("HATO_").filter(|key| {
            let top = key.as_str().split("__").next().unwrap_or_default();
            SETTINGS.iter().any(|name| name.eq_ignore_ascii_case(top))
        });
        figment = figment.merge(env.split("__"));
        let mut config: Config = figment.extract().context("invalid configuration")?;
        if let Some(dir) = overrides.data_dir {
            config.data_dir = dir;
        }
        if let Some(listen) = overrides.listen {
            config.listen = listen;
        }
        if let Some(url) = overrides.database_url {
            config.database_url = url;
        }
        for (index, url) in overrides.smsc.iter().enumerate() {
            config.connectors.push(
                parse_smsc_url(url, index).with_context(|| format!("invalid --smsc `{url}`"))?,
            );
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot, with messages that say how to fix it.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !hato_core::phone::is_known_region(&self.default_region) {
            bail!(
                "default_region `{}` is not a known region code (e.g. JP, US, GB)",
                self.default_region
            );
        }
        if !(1..=255).contains(&self.max_segments) {
            bail!("max_segments must be 1 to 255 (SMPP concatenation counts parts in one byte)");
        }
        if self.inbound_account.trim().is_empty() {
            bail!("inbound_account must name an account");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!("log_format must be `text` or `json`");
        }
        if !matches!(self.simulator.transport.as_str(), "smpp" | "inline") {
            bail!("simulator.transport must be `smpp` or `inline`");
        }
        if !matches!(self.sqlite_synchronous.as_str(), "full" | "normal") {
            bail!(
                "sqlite_synchronous must be \"full\" or \"normal\", not {:?}",
                self.sqlite_synchronous
            );
        }
        if self.dispatch.batch == 0 || self.dispatch.in_flight == 0 {
            bail!("dispatch.batch and dispatch.in_flight must be at least 1");
        }
        if self.dispatch.lease.0 < Duration::from_secs(5) {
            bail!("dispatch.lease must be at least 5s");
        }
        if !(0.0..=1.0).contains(&self.webhooks.jitter) {
            bail!("webhooks.jitter must be between 0 and 1");
        }
        if self.webhooks.concurrency == 0 {
            bail!("webhooks.concurrency must be at least 1");
        }
        if let Some(pricing) = &self.pricing
            && (pricing.per_segment < 0.0 || pricing.currency.len() != 3)
        {
            bail!("pricing needs a non-negative per_segment and a 3-letter currency code");
        }
        let mut names = std::collections::HashSet::new();
        for connector in &self.connectors {
            if !names.insert(connector.name.as_str()) {
                bail!("two connectors are named `{}`", connector.name);
            }
            self.smpp_connector(connector)?;
        }
        for route in &self.routes {
            for name in &route.connectors {
                if !names.contains(name.as_str()) {
                    bail!("a route names connector `{name}`, which is not configured");
                }
            }
        }
        Ok(())
    }

    /// How the store is opened.
    pub fn store_options(&self) -> hato_store::StoreOptions {
        hato_store::StoreOptions {
            sqlite_synchronous_full: self.sqlite_synchronous != "normal",
            ..hato_store::StoreOptions::default()
        }
    }

    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("hato.db").display())
        } else {
            self.database_url.clone()
        }
    }

    pub fn engine(&self) -> hato_engine::EngineConfig {
        hato_engine::EngineConfig {
            dispatch_batch: self.dispatch.batch,
            dispatch_in_flight: self.dispatch.in_flight,
            gather: self.dispatch.gather.0,
            lease: self.dispatch.lease.0,
            direct_dispatch: self.dispatch.direct,
            retry_schedule: self.dispatch.retry_schedule.iter().map(|d| d.0).collect(),
            default_region: self.default_region.clone(),
            inbound_account: Some(self.inbound_account.clone()),
            webhooks: hato_engine::WebhookConfig {
                retry_schedule: self.webhooks.retry_schedule.iter().map(|d| d.0).collect(),
                jitter: self.webhooks.jitter,
                timeout: self.webhooks.timeout.0,
                concurrency: self.webhooks.concurrency,
                ..hato_engine::WebhookConfig::default()
            },
            ..hato_engine::EngineConfig::default()
        }
    }

    pub fn api(&self) -> hato_api::ApiSettings {
        hato_api::ApiSettings {
            default_region: self.default_region.clone(),
            max_segments: self.max_segments,
            key_cache_ttl: self.api_key_cache.0,
            price: self.pricing.as_ref().map(|p| hato_api::Price {
                per_segment: p.per_segment,
                currency: p.currency.clone(),
            }),
            ..hato_api::ApiSettings::default()
        }
    }

    /// The SMPP connector settings for one `[[connectors]]` entry.
    pub fn smpp_connector(
        &self,
        settings: &ConnectorSettings,
    ) -> anyhow::Result<hato_smpp::ConnectorConfig> {
        let mut config = hato_smpp::ConnectorConfig::new(
            &settings.name,
            &settings.host,
            settings.port,
            &settings.system_id,
            &settings.password,
        );
        config.system_type = settings.system_type.clone();
        if let Some(mode) = &settings.bind_mode {
            config.bind_mode = match mode.as_str() {
                "transceiver" => hato_smpp::BindMode::Transceiver,
                "transmitter_receiver" => hato_smpp::BindMode::TransmitterReceiver,
                other => bail!(
                    "connector `{}`: bind_mode `{other}` is not transceiver or transmitter_receiver",
                    settings.name
                ),
            };
        }
        if let Some(mode) = &settings.long_messages {
            config.long_messages = match mode.as_str() {
                "udh" => hato_smpp::LongMessageMode::Udh8,
                "udh16" => hato_smpp::LongMessageMode::Udh16,
                "sar" => hato_smpp::LongMessageMode::Sar,
                "payload" => hato_smpp::LongMessageMode::Payload,
                other => bail!(
                    "connector `{}`: long_messages `{other}` is not udh, udh16, sar or payload",
                    settings.name
                ),
            };
        }
        if let Some(binds) = settings.binds {
            config.binds = binds;
        }
        if let Some(window) = settings.window {
            config.window = window;
        }
        config.throughput = settings.throughput.or(config.throughput);
        if let Some(coding) = settings.data_coding_gsm7 {
            config.data_coding_gsm7 = coding;
        }
        if let Some(coding) = settings.data_coding_ucs2 {
            config.data_coding_ucs2 = coding;
        }
        if let Some(interval) = &settings.enquire_link_interval {
            config.enquire_link_interval = interval.0;
        }
        if let Some(timeout) = &settings.response_timeout {
            config.response_timeout = timeout.0;
        }
        if let Some(wait) = &settings.reconnect_min {
            config.reconnect_min = wait.0;
        }
        if let Some(wait) = &settings.reconnect_max {
            config.reconnect_max = wait.0;
        }
        if let Some(sender) = &settings.default_sender {
            hato_core::Sender::parse(sender, &self.default_region).map_err(|e| {
                anyhow::anyhow!("connector `{}`: default_sender: {e}", settings.name)
            })?;
        }
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("connector `{}`: {e}", settings.name))?;
        Ok(config)
    }
}

/// `smpp://SYSTEM_ID:PASSWORD@HOST:PORT` → a connector named `smsc`, `smsc2`, …
fn parse_smsc_url(text: &str, index: usize) -> anyhow::Result<ConnectorSettings> {
    let url = url::Url::parse(text).context("not a URL")?;
    if url.scheme() != "smpp" {
        bail!("the scheme must be smpp://");
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .context("no host")?
        .to_owned();
    let port = url.port().unwrap_or(2775);
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let system_id = decode(url.username())
        .filter(|s| !s.is_empty())
        .context("no SYSTEM_ID before @")?;
    let password = url.password().and_then(decode).unwrap_or_default();
    let name = if index == 0 {
        "smsc".into()
    } else {
        format!("smsc{}", index + 1)
    };
    Ok(ConnectorSettings::new(
        name, host, port, system_id, password,
    ))
}

impl ConnectorSettings {
    /// A connector with every optional setting at its default.
    pub fn new(name: String, host: String, port: u16, system_id: String, password: String) -> Self {
        Self {
            name,
            host,
            port,
            system_id,
            password,
            system_type: String::new(),
            bind_mode: None,
            binds: None,
            window: None,
            throughput: None,
            long_messages: None,
            data_coding_gsm7: None,
            data_coding_ucs2: None,
            enquire_link_interval: None,
            response_timeout: None,
            reconnect_min: None,
            reconnect_max: None,
            default_sender: None,
        }
    }
}

/// A duration written for people: `"250ms"`, `"30s"`, `"5m"`, `"2h"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(self.0).to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(text.trim())
            .map(HumanDuration)
            .map_err(|e| {
                serde::de::Error::custom(format!(
                    "`{text}` is not a duration like \"500ms\", \"30s\" or \"5m\": {e}"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smsc_urls_become_connectors() {
        let c = parse_smsc_url("smpp://hato:s%40cret@127.0.0.1:2776", 0).unwrap();
        assert_eq!(
            (
                c.name.as_str(),
                c.system_id.as_str(),
                c.password.as_str(),
                c.port
            ),
            ("smsc", "hato", "s@cret", 2776)
        );
        assert!(parse_smsc_url("http://x@h", 0).is_err());
        assert!(parse_smsc_url("smpp://h:1", 0).is_err());
    }

    #[test]
    fn the_example_file_is_valid_and_complete() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hato.example.toml");
        let config: Config = Figment::from(Toml::file(&path))
            .extract()
            .expect("hato.example.toml parses");
        config.validate().expect("hato.example.toml validates");
    }

    #[test]
    fn sqlite_synchronous_is_full_or_normal() {
        let mut config = Config::default();
        assert!(config.store_options().sqlite_synchronous_full);
        config.sqlite_synchronous = "normal".into();
        config.validate().expect("normal is valid");
        assert!(!config.store_options().sqlite_synchronous_full);
        config.sqlite_synchronous = "off".into();
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("sqlite_synchronous"), "{error}");
    }

    #[test]
    fn reconnect_waits_are_settings_and_checked() {
        let config = Config::default();
        let mut settings = parse_smsc_url("smpp://hato:pw@127.0.0.1:2775", 0).unwrap();
        settings.reconnect_min = Some(HumanDuration(Duration::from_millis(200)));
        settings.reconnect_max = Some(HumanDuration(Duration::from_secs(5)));
        let smpp = config.smpp_connector(&settings).expect("valid waits");
        assert_eq!(smpp.reconnect_min, Duration::from_millis(200));
        assert_eq!(smpp.reconnect_max, Duration::from_secs(5));
        settings.reconnect_max = Some(HumanDuration(Duration::from_millis(100)));
        let error = config.smpp_connector(&settings).unwrap_err().to_string();
        assert!(error.contains("reconnect_max"), "{error}");
    }
}
