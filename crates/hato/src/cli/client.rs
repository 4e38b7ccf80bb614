//! Commands that talk to a running server over its API.

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::ClientArgs;

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Recipient (e.g. 09012345678 or +819012345678).
    #[arg(long)]
    pub to: String,
    /// The text.
    #[arg(long)]
    pub body: String,
    /// Sender id.
    #[arg(long)]
    pub from: Option<String>,
    /// transactional, otp or promotional.
    #[arg(long)]
    pub kind: Option<String>,
    /// When to send (RFC 3339).
    #[arg(long)]
    pub send_at: Option<String>,
    /// Your reference.
    #[arg(long)]
    pub reference: Option<String>,
    /// Idempotency-Key header, to make a retried command safe.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum MessagesCommand {
    /// Show one message.
    Get {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List recent messages.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show a message's status history and webhook attempts.
    Events {
        id: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    fn new(args: &ClientArgs) -> anyhow::Result<Self> {
        let Some(key) = args.api_key.clone() else {
            bail!(
                "no API key: set HATO_API_KEY or pass --api-key (create one with `hato keys create --name NAME`)"
            );
        };
        Ok(Self {
            http: reqwest::Client::new(),
            base: args.url.trim_end_matches('/').to_owned(),
            key,
        })
    }

    async fn call(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let error = &body["error"];
            let field = error["field"]
                .as_str()
                .map(|f| format!(" (field `{f}`)"))
                .unwrap_or_default();
            bail!(
                "{status}: {}{field}",
                error["message"].as_str().unwrap_or("no details")
            );
        }
        Ok(body)
    }
}

pub async fn send(args: SendArgs) -> anyhow::Result<()> {
    let api = Api::new(&args.client)?;
    let mut body = json!({ "to": args.to, "body": args.body });
    for (name, value) in [
        ("from", args.from),
        ("kind", args.kind),
        ("send_at", args.send_at),
        ("reference", args.reference),
    ] {
        if let Some(value) = value {
            body[name] = Value::String(value);
        }
    }
    let mut request = api
        .http
        .post(format!("{}/v1/messages", api.base))
        .json(&body);
    if let Some(key) = args.idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let message = api.call(request).await?;
    println!("{}", serde_json::to_string_pretty(&message)?);
    Ok(())
}

pub async fn messages(command: MessagesCommand) -> anyhow::Result<()> {
    let (api, url) = match &command {
        MessagesCommand::Get { id, client } => {
            let api = Api::new(client)?;
            let url = format!("{}/v1/messages/{id}", api.base);
            (api, url)
        }
        MessagesCommand::Events { id, client } => {
            let api = Api::new(client)?;
            let url = format!("{}/v1/messages/{id}/events", api.base);
            (api, url)
        }
        MessagesCommand::List {
            status,
            limit,
            client,
        } => {
            let api = Api::new(client)?;
            let mut url = format!("{}/v1/messages?limit={limit}", api.base);
            if let Some(status) = status {
                url.push_str(&format!("&status={status}"));
            }
            (api, url)
        }
    };
    let result = api.call(api.http.get(url)).await?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}
