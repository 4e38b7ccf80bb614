//! One ESME connection to the simulator.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use futures::StreamExt;
use rusmpp::pdus::{
    BindReceiverResp, BindTransceiverResp, BindTransmitterResp, SubmitSm, SubmitSmResp,
};
use rusmpp::types::COctetString;
use rusmpp::values::InterfaceVersion;
use rusmpp::{Command, CommandId, CommandStatus, Pdu};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::{
    BindRole, Deliverable, MoMessage, ReceivedMessage, ReceivedSubmit, SessionCounters,
    SessionEntry, Shared, dates, lock, message_number, replies,
};
use crate::address::Address;
use crate::codec::{Frame, PduCodec, bodiless, generic_nack, is_response};
use crate::long_message::decode_text;
use crate::pdu::MessageView;
use crate::reassembly::{Part, Push};
use crate::status::{
    ESME_RALYBND, ESME_RINVBNDSTS, ESME_RINVCMDID, ESME_RINVCMDLEN, ESME_RINVPASWD, ESME_RINVSYSID,
};
use crate::wire::{Out, write_loop};

struct Bound {
    system_id: String,
    role: BindRole,
}

struct Connection {
    shared: Arc<Shared>,
    id: u64,
    writer: mpsc::UnboundedSender<Out>,
    next_sequence: Arc<AtomicU32>,
    kill: CancellationToken,
    outstanding: Arc<AtomicUsize>,
    counters: Arc<SessionCounters>,
    bound: Option<Bound>,
}

/// Serves one connection until it unbinds, drops, is killed, or the simulator stops.
pub(super) async fn serve(shared: Arc<Shared>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let mut reader = FramedRead::new(read, PduCodec::new());
    let (writer, rx) = mpsc::unbounded_channel();
    let writer_task = tokio::spawn(write_loop(
        tokio_util::codec::FramedWrite::new(write, PduCodec::new()),
        rx,
    ));
    let mut connection = Connection {
        id: shared.next_session.fetch_add(1, Ordering::Relaxed),
        shared: Arc::clone(&shared),
        writer,
        next_sequence: Arc::new(AtomicU32::new(1)),
        kill: CancellationToken::new(),
        outstanding: Arc::new(AtomicUsize::new(0)),
        counters: Arc::default(),
        bound: None,
    };
    let graceful = loop {
        tokio::select! {
            frame = reader.next() => match frame {
                Some(Ok(frame)) => {
                    if connection.handle(frame) {
                        break true;
                    }
                }
                Some(Err(error)) => {
                    debug!(%error, "closing a connection with broken framing");
                    shared.counters.invalid_pdus.fetch_add(1, Ordering::Relaxed);
                    break false;
                }
                None => break false,
            },
            _ = connection.kill.cancelled() => break false,
            _ = shared.shutdown.cancelled() => break false,
        }
    };
    shared.session_closed(connection.id);
    if graceful {
        let _ = connection.writer.send(Out::Close);
        let _ = writer_task.await;
    } else {
        writer_task.abort();
    }
}

impl Connection {
    fn send(&self, command: Command) {
        let _ = self.writer.send(Out::Pdu(command));
    }

    /// Handles one frame; `true` ends the connection gracefully.
    fn handle(&mut self, frame: Frame) -> bool {
        let command = match frame {
            Frame::Command(command) => command,
            Frame::Invalid {
                command_id,
                sequence_number,
                ..
            } => {
                self.shared
                    .counters
                    .invalid_pdus
                    .fetch_add(1, Ordering::Relaxed);
                if !is_response(command_id) {
                    self.send(generic_nack(ESME_RINVCMDLEN, sequence_number));
                }
                return false;
            }
        };
        let sequence = command.sequence_number();
        let status = u32::from(command.status());
        let counters = &self.shared.counters;
        match (command.id(), command.pdu()) {
            (CommandId::BindTransmitter, Some(Pdu::BindTransmitter(b))) => {
                self.bind(
                    BindRole::Transmitter,
                    sequence,
                    b.system_id.as_str(),
                    b.password.as_str(),
                );
            }
            (CommandId::BindReceiver, Some(Pdu::BindReceiver(b))) => {
                self.bind(
                    BindRole::Receiver,
                    sequence,
                    b.system_id.as_str(),
                    b.password.as_str(),
                );
            }
            (CommandId::BindTransceiver, Some(Pdu::BindTransceiver(b))) => {
                self.bind(
                    BindRole::Transceiver,
                    sequence,
                    b.system_id.as_str(),
                    b.password.as_str(),
                );
            }
            (CommandId::SubmitSm, Some(Pdu::SubmitSm(submit))) => match &self.bound {
                Some(bound) if bound.role != BindRole::Receiver => self.submit(sequence, submit),
                _ => self.send(bodiless(CommandId::SubmitSmResp, ESME_RINVBNDSTS, sequence)),
            },
            (id @ (CommandId::DeliverSmResp | CommandId::DataSmResp), _) => {
                self.shared
                    .delivered(self.id, sequence, u32::from(id), status)
            }
            (CommandId::GenericNack, _) => {
                counters.generic_nacks.fetch_add(1, Ordering::Relaxed);
                let id = u32::from(CommandId::GenericNack);
                self.shared.delivered(self.id, sequence, id, status.max(1));
            }
            (CommandId::EnquireLink, _) => {
                counters.enquire_links.fetch_add(1, Ordering::Relaxed);
                self.send(Command::new(
                    CommandStatus::EsmeRok,
                    sequence,
                    Pdu::EnquireLinkResp,
                ));
            }
            (CommandId::Unbind, _) => {
                counters.unbinds.fetch_add(1, Ordering::Relaxed);
                self.send(Command::new(
                    CommandStatus::EsmeRok,
                    sequence,
                    Pdu::UnbindResp,
                ));
                return true;
            }
            (id, _) => {
                if !is_response(u32::from(id)) {
                    self.send(generic_nack(ESME_RINVCMDID, sequence));
                }
            }
        }
        false
    }

    fn bind(&mut self, role: BindRole, sequence: u32, system_id: &str, password: &str) {
        let shared = Arc::clone(&self.shared);
        let id = match role {
            BindRole::Transmitter => CommandId::BindTransmitterResp,
            BindRole::Receiver => CommandId::BindReceiverResp,
            BindRole::Transceiver => CommandId::BindTransceiverResp,
        };
        let refusal = if self.bound.is_some() {
            Some(ESME_RALYBND)
        } else {
            match &shared.config.credentials {
                Some((expected_id, _)) if expected_id != system_id => Some(ESME_RINVSYSID),
                Some((_, expected_password)) if expected_password != password => {
                    Some(ESME_RINVPASWD)
                }
                _ => None,
            }
        };
        if let Some(status) = refusal {
            shared
                .counters
                .binds_rejected
                .fetch_add(1, Ordering::Relaxed);
            self.send(bodiless(id, status, sequence));
            return;
        }
        let name = COctetString::from_static_slice(b"hato-sim\0").unwrap_or_default();
        let version = Some(InterfaceVersion::Smpp3_4);
        let pdu = match role {
            BindRole::Transmitter => {
                Pdu::BindTransmitterResp(BindTransmitterResp::new(name, version))
            }
            BindRole::Receiver => Pdu::BindReceiverResp(BindReceiverResp::new(name, version)),
            BindRole::Transceiver => {
                Pdu::BindTransceiverResp(BindTransceiverResp::new(name, version))
            }
        };
        self.send(Command::new(CommandStatus::EsmeRok, sequence, pdu));
        shared
            .counters
            .binds_accepted
            .fetch_add(1, Ordering::Relaxed);
        self.bound = Some(Bound {
            system_id: system_id.to_owned(),
            role,
        });
        lock(&shared.sessions).insert(
            self.id,
            SessionEntry {
                system_id: system_id.to_owned(),
                role,
                counters: Arc::clone(&self.counters),
                writer: self.writer.clone(),
                next_sequence: Arc::clone(&self.next_sequence),
                kill: self.kill.clone(),
                unanswered: 0,
            },
        );
        if role.receives() {
            shared.send_held();
        }
    }

    fn submit(&mut self, sequence: u32, submit: &SubmitSm) {
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        let now = Instant::now();
        counters.submits.fetch_add(1, Ordering::Relaxed);
        self.counters.submits.fetch_add(1, Ordering::Relaxed);
        shared.submit_seen(now);
        let outstanding = self.outstanding.fetch_add(1, Ordering::Relaxed) + 1;
        counters
            .max_outstanding
            .fetch_max(outstanding, Ordering::Relaxed);

        let faults = shared.take_faults();
        let key = shared.next_key.fetch_add(1, Ordering::Relaxed);
        let outcome = shared.config.outcomes.outcome(key);
        let status = faults.status.unwrap_or(
            if outcome == hato_core::simulation::SimulatedOutcome::Rejected {
                shared.config.reject_status
            } else {
                0
            },
        );
        let response = if status == 0 {
            counters.submits_ok.fetch_add(1, Ordering::Relaxed);
            let id = shared
                .config
                .submit_ids
                .format(message_number(shared.id_base, key));
            let registered = u8::from(submit.registered_delivery) & 0x03;
            let wants_receipt = match registered {
                1 => true,
                2 => outcome != hato_core::simulation::SimulatedOutcome::Delivered,
                3 => outcome == hato_core::simulation::SimulatedOutcome::Delivered,
                _ => false,
            };
            let answers = !shared.config.replies.is_empty();
            if shared.config.record || wants_receipt || answers {
                let view = MessageView::of_submit_sm(submit);
                let (concat, bytes) = view.content();
                let text = decode_text(view.data_coding, bytes);
                if wants_receipt {
                    let source = Address {
                        ton: view.source_ton,
                        npi: view.source_npi,
                        value: view.source.clone(),
                    };
                    let destination = Address {
                        ton: view.destination_ton,
                        npi: view.destination_npi,
                        value: view.destination.clone(),
                    };
                    let submitted_at = dates::now_yymmddhhmm();
                    if let Some(mut receipt) =
                        shared.receipt(key, outcome, &source, &destination, &text, &submitted_at)
                    {
                        receipt.system_id = self.bound.as_ref().map(|b| b.system_id.clone());
                        self.schedule_receipt(receipt, faults.receipt_first);
                    }
                }
                if answers {
                    self.answer(&view, concat, &text, now);
                }
                if shared.config.record {
                    self.record(&view, id.clone(), concat, text, now);
                }
            }
            let message_id = COctetString::from_string(id).unwrap_or_default();
            Command::new(
                CommandStatus::EsmeRok,
                sequence,
                SubmitSmResp::new(message_id, Vec::new()),
            )
        } else {
            counters.submits_failed.fetch_add(1, Ordering::Relaxed);
            bodiless(CommandId::SubmitSmResp, status, sequence)
        };
        if faults.drop {
            return;
        }
        match faults.delay {
            Some(delay) => {
                let writer = self.writer.clone();
                let outstanding = Arc::clone(&self.outstanding);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    outstanding.fetch_sub(1, Ordering::Relaxed);
                    let _ = writer.send(Out::Pdu(response));
                });
            }
            None => {
                self.outstanding.fetch_sub(1, Ordering::Relaxed);
                self.send(response);
            }
        }
    }

    fn schedule_receipt(&self, receipt: Deliverable, first: bool) {
        let shared = &self.shared;
        if first {
            shared.dispatch(receipt, Some(self.id));
        } else {
            let due = Instant::now() + shared.config.receipt_delay;
            let _ = shared.receipts.send((due, receipt, Some(self.id)));
        }
    }

    /// Once a submitted message is whole, the first reply rule that matches it has its
    /// handset answer after the rule's delay (`replies`).
    fn answer(
        &self,
        view: &MessageView,
        concat: Option<crate::long_message::Concat>,
        text: &str,
        now: Instant,
    ) {
        let shared = &self.shared;
        let whole = match concat.filter(|c| c.total > 1) {
            None => Some(text.to_owned()),
            Some(concat) => {
                let part = part_of(view, concat);
                let now = now.into_std();
                let mut parts = lock(&shared.to_answer);
                parts.expire(now);
                match parts.push(now, part, ()) {
                    Push::Complete(message, _, _) => Some(message.text),
                    _ => None,
                }
            }
        };
        let Some(text) = whole else {
            return;
        };
        // The handset is the number the message went to, in the form handsets send from.
        let handset = if view.destination_ton == 1 {
            format!("+{}", view.destination.trim_start_matches('+'))
        } else {
            view.destination.clone()
        };
        let Some(rule) = replies::answer(&shared.config.replies, &handset, &text) else {
            return;
        };
        let reply = MoMessage::new(handset, view.source.clone(), rule.reply.clone());
        let delay = rule.delay;
        let shared = Arc::clone(shared);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Err(error) = shared.send_mo(reply) {
                debug!(error = %error, "a scripted handset reply could not be sent");
            }
        });
    }

    fn record(
        &self,
        view: &MessageView,
        message_id: String,
        concat: Option<crate::long_message::Concat>,
        text: String,
        now: Instant,
    ) {
        let shared = &self.shared;
        let system_id = self
            .bound
            .as_ref()
            .map(|b| b.system_id.clone())
            .unwrap_or_default();
        let received = ReceivedSubmit {
            message_id,
            system_id,
            source_ton: view.source_ton,
            source_npi: view.source_npi,
            source: view.source.clone(),
            destination_ton: view.destination_ton,
            destination_npi: view.destination_npi,
            destination: view.destination.clone(),
            esm_class: view.esm_class,
            data_coding: view.data_coding,
            registered_delivery: view.registered_delivery,
            text: text.clone(),
            concat,
            payload: view.payload.is_some() && view.short_message.is_empty(),
            received_at: now,
        };
        lock(&shared.received).push(received);
        let mut messages = lock(&shared.messages);
        let (reassembler, done) = &mut *messages;
        match concat.filter(|c| c.total > 1) {
            None => done.push(ReceivedMessage {
                source: view.source.clone(),
                destination: view.destination.clone(),
                text,
                parts: 1,
            }),
            Some(concat) => {
                let part = part_of(view, concat);
                let now = now.into_std();
                reassembler.expire(now);
                if let Push::Complete(message, _, _) = reassembler.push(now, part, ()) {
                    done.push(ReceivedMessage {
                        source: message.from,
                        destination: message.to,
                        text: message.text,
                        parts: message.parts,
                    });
                }
            }
        }
    }
}

/// One part of a submitted multipart message, for a reassembler.
fn part_of(view: &MessageView, concat: crate::long_message::Concat) -> Part {
    let (_, bytes) = view.content();
    Part {
        from: view.source.clone(),
        to: view.destination.clone(),
        data_coding: view.data_coding,
        body: bytes.to_vec(),
        concat,
    }
}
