//! Choosing carriers for a message: routes by destination prefix, message kind and sender, in
//! priority order, with failover to the next carrier when one is unavailable.

use std::sync::Arc;

use hato_core::MessageKind;

use crate::{Carrier, OutboundSms};

/// One routing rule: messages it matches go to `connectors`, first one first.
#[derive(Debug, Clone, Default)]
pub struct Route {
    /// E.164 prefixes (`+81`, `+8190`); empty matches every destination.
    pub prefixes: Vec<String>,
    /// Message kinds; empty matches every kind.
    pub kinds: Vec<MessageKind>,
    /// Exact sender ids; empty matches every sender.
    pub senders: Vec<String>,
    /// Connector names in priority order.
    pub connectors: Vec<String>,
}

impl Route {
    fn matches(&self, sms: &OutboundSms) -> bool {
        let to = sms.to.as_str();
        (self.prefixes.is_empty() || self.prefixes.iter().any(|p| to.starts_with(p.as_str())))
            && (self.kinds.is_empty() || self.kinds.contains(&sms.kind))
            && (self.senders.is_empty()
                || sms
                    .from
                    .as_ref()
                    .is_some_and(|from| self.senders.iter().any(|s| s == from.as_str())))
    }
}

/// The carriers and the rules that pick among them.
pub struct Router {
    carriers: Vec<Arc<dyn Carrier>>,
    routes: Vec<Route>,
}

impl Router {
    /// Routes are tried in order; the first that matches decides. With no matching route every
    /// carrier is a candidate, in configuration order.
    pub fn new(carriers: Vec<Arc<dyn Carrier>>, routes: Vec<Route>) -> Self {
        Self { carriers, routes }
    }

    pub fn carriers(&self) -> &[Arc<dyn Carrier>] {
        &self.carriers
    }

    /// Names used in routes that no carrier has, for configuration checks.
    pub fn unknown_connectors(&self) -> Vec<String> {
        self.routes
            .iter()
            .flat_map(|r| r.connectors.iter())
            .filter(|name| !self.carriers.iter().any(|c| c.name() == name.as_str()))
            .cloned()
            .collect()
    }

    /// The carriers to try for `sms`, best first.
    pub fn candidates(&self, sms: &OutboundSms) -> Vec<Arc<dyn Carrier>> {
        match self.routes.iter().find(|route| route.matches(sms)) {
            Some(route) => route
                .connectors
                .iter()
                .filter_map(|name| {
                    self.carriers
                        .iter()
                        .find(|c| c.name() == name.as_str())
                        .cloned()
                })
                .collect(),
            None => self.carriers.clone(),
        }
    }
}
