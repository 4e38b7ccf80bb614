//! Outcomes of the simulated carrier, shared by every simulator Hato ships.
//!
//! The outcome of a message is a pure function of a key (a counter or a hash of the message)
//! and the configured mix, so a test that configures "100% delivered" or a fixed mix sees the
//! same outcomes on every run.

use serde::{Deserialize, Serialize};

/// What a simulated handset network finally reports for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimulatedOutcome {
    Delivered,
    Undelivered,
    Expired,
    /// Refused at submission with a permanent error.
    Rejected,
}

/// The relative weights of each outcome. Weights need not add up to anything in particular.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutcomeMix {
    pub delivered: u32,
    pub undelivered: u32,
    pub expired: u32,
    pub rejected: u32,
}

impl Default for OutcomeMix {
    fn default() -> Self {
        Self {
            delivered: 100,
            undelivered: 0,
            expired: 0,
            rejected: 0,
        }
    }
}

impl OutcomeMix {
    pub fn total(&self) -> u64 {
        u64::from(self.delivered)
            + u64::from(self.undelivered)
            + u64::from(self.expired)
            + u64::from(self.rejected)
    }

    /// The outcome for `key`: keys spread evenly over the weights, so consecutive keys
    /// reproduce the configured proportions exactly over every full cycle.
    pub fn outcome(&self, key: u64) -> SimulatedOutcome {
        let total = self.total();
        if total == 0 {
            return SimulatedOutcome::Delivered;
        }
        let mut point = key % total;
        for (weight, outcome) in [
            (self.delivered, SimulatedOutcome::Delivered),
            (self.undelivered, SimulatedOutcome::Undelivered),
            (self.expired, SimulatedOutcome::Expired),
            (self.rejected, SimulatedOutcome::Rejected),
        ] {
            let weight = u64::from(weight);
            if point < weight {
                return outcome;
            }
            point -= weight;
        }
        SimulatedOutcome::Delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proportions_hold_over_a_cycle() {
        let mix = OutcomeMix {
            delivered: 7,
            undelivered: 1,
            expired: 1,
            rejected: 1,
        };
        let outcomes: Vec<_> = (0..10).map(|k| mix.outcome(k)).collect();
        let count = |o| outcomes.iter().filter(|x| **x == o).count();
        assert_eq!(count(SimulatedOutcome::Delivered), 7);
        assert_eq!(count(SimulatedOutcome::Undelivered), 1);
        assert_eq!(count(SimulatedOutcome::Expired), 1);
        assert_eq!(count(SimulatedOutcome::Rejected), 1);
    }

    #[test]
    fn empty_mix_delivers() {
        let mix = OutcomeMix {
            delivered: 0,
            undelivered: 0,
            expired: 0,
            rejected: 0,
        };
        assert_eq!(mix.outcome(42), SimulatedOutcome::Delivered);
    }
}
